package validjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name, in string
		want     bool
	}{
		{"object", `{"a":[1,{"b":"]]]["}]}`, true},
		{"at the limit", deep(MaxDepth), true},
		{"one past the limit", deep(MaxDepth + 1), false},
		{"brackets inside a string", `"` + strings.Repeat("[", 2*MaxDepth) + `"`, true},
		{"escaped quote in a string", `["\"[[", 1]`, true},
		{"malformed", `{"a":`, false},
		{"empty", ``, false},
	} {
		if got := Bytes([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: Bytes = %v, want %v", tc.name, got, tc.want)
		}
		if got := String(tc.in); got != tc.want {
			t.Errorf("%s: String = %v, want %v", tc.name, got, tc.want)
		}
		if tc.want != json.Valid([]byte(tc.in)) && tc.name != "one past the limit" {
			t.Errorf("%s: encoding/json disagrees", tc.name)
		}
	}
}

// TestDeepBodyDoesNotOverflow: 8 MiB of '[' (a body the gateway's default
// max_body_bytes admits) is refused without recursing: gjson alone
// overflows the goroutine stack on it, a fatal error.
func TestDeepBodyDoesNotOverflow(t *testing.T) {
	if Bytes([]byte(strings.Repeat("[", 8<<20))) {
		t.Fatal("8 MiB of '[' is not valid JSON")
	}
}

func FuzzBytes(f *testing.F) {
	for _, s := range []string{`{}`, `[[[]]]`, `"\\"`, `{"a":"[{"}`, `[1,2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Bytes(b), json.Valid(b); got != want {
			t.Fatalf("Bytes(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}
