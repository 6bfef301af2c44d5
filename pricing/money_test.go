package pricing

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseDollars(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"3", 3_000_000, ""},
		{"0.15", 150_000, ""},
		{"0.075", 75_000, ""},
		{"0.0375", 37_500, ""},
		{"0.000001", 1, ""},
		{"12.500000", 12_500_000, ""},
		{"1.2500000000", 1_250_000, ""}, // zeros past six decimals are exact
		{"007.5", 7_500_000, ""},
		{"1000000000", 1_000_000_000_000_000, ""},
		{"0.0000001", 0, "more than 6 decimal places"},
		{"1000000000.000001", 0, "more than a billion"},
		{"99999999999", 0, "more than a billion"},
		{"", 0, "plain decimal"},
		{".5", 0, "plain decimal"},
		{"5.", 0, "plain decimal"},
		{"-1", 0, "plain decimal"},
		{"+1", 0, "plain decimal"},
		{"1e3", 0, "plain decimal"},
		{"1.2.3", 0, "plain decimal"},
		{"0x10", 0, "plain decimal"},
		{`"1"`, 0, "plain decimal"},
		{"NaN", 0, "plain decimal"},
	} {
		got, err := parseDollars(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseDollars(%q) = %d, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseDollars(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDollars(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "0.000001", 75: "0.000075", 150_000: "0.15", 1_500_000: "1.5", 3_000_000: "3",
		12_345_678: "12.345678", -1_500_000: "-1.5", 1_000_000_000_000_000: "1000000000",
	} {
		if got := formatDollars(n); got != want {
			t.Errorf("formatDollars(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestMoneyJSON: amounts and rates are JSON numbers of dollars both
// ways, null leaves the value alone, anything else is an error.
func TestMoneyJSON(t *testing.T) {
	var v struct {
		Budget Micros `json:"budget"`
		Rate   Rate   `json:"rate"`
	}
	if err := json.Unmarshal([]byte(`{"budget":12.5,"rate":0.075}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Budget != 12_500_000 || v.Rate != 75_000 {
		t.Fatalf("decoded %+v", v)
	}
	out, _ := json.Marshal(v)
	if string(out) != `{"budget":12.5,"rate":0.075}` {
		t.Fatalf("encoded %s", out)
	}
	if err := json.Unmarshal([]byte(`{"budget":null}`), &v); err != nil || v.Budget != 12_500_000 {
		t.Fatalf("null: %v %+v", err, v)
	}
	for _, bad := range []string{`{"budget":"12"}`, `{"budget":-1}`, `{"budget":1e2}`, `{"rate":true}`, `{"rate":0.1234567}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// FuzzParseDollars: whatever a client sends, parsing never panics, and
// what it accepts formats back to the same amount.
func FuzzParseDollars(f *testing.F) {
	for _, s := range []string{"0", "0.15", "12.500000", "1000000000", "1e3", "-1", ".5", "0.0000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseDollars(s)
		if err != nil {
			return
		}
		if n < 0 || n > maxDollars*scale {
			t.Fatalf("parseDollars(%q) = %d: out of range", s, n)
		}
		back, err := parseDollars(formatDollars(n))
		if err != nil || back != n {
			t.Fatalf("round trip of %q: %d → %q → %d, %v", s, n, formatDollars(n), back, err)
		}
	})
}

// TestMoneyJSONNamesTheField: a bad amount is an error the decoder
// completes with the field's name.
func TestMoneyJSONNamesTheField(t *testing.T) {
	var v struct {
		Budget Micros `json:"monthly_budget_usd"`
	}
	err := json.Unmarshal([]byte(`{"monthly_budget_usd":-5}`), &v)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "monthly_budget_usd" || !strings.Contains(te.Value, "plain decimal") {
		t.Fatalf("error %#v", err)
	}
}
