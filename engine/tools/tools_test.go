package tools

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	for i, c := range []struct {
		in   string
		want float64
		err  string
	}{
		{"sqrt(144) + 56", 68, ""},
		{"2 + 3 * 4", 14, ""},
		{"(2 + 3) * 4", 20, ""},
		{"2 ^ 3 ^ 2", 512, ""},
		{"-3 + +5", 2, ""},
		{"10 % 4", 2, ""},
		{"1.5e2 / 3", 50, ""},
		{"1 / 0", 0, "division by zero"},
		{"sqrt(-1)", 0, "negative"},
		{"2 +", 0, "end of expression"},
		{"2 2", 0, "unexpected"},
		{"os.exit(1)", 0, "unexpected"},
		{strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200), 0, "too deeply"},
	} {
		got, err := Evaluate(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("case %d %q: err = %v, want %q", i, c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("case %d %q = %v, %v; want %v", i, c.in, got, err, c.want)
		}
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add("sqrt(144) + 56")
	f.Add("((1))^-2%3")
	f.Fuzz(func(t *testing.T, s string) { _, _ = Evaluate(s) })
}

func TestRegistryResolveAndRun(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
	slow := &Toolkit{Name: "Slow", Methods: []*Method{{Name: "wait", Timeout: 10 * time.Millisecond,
		Call: func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}}}
	r, err := NewRegistry(Builtins(now), slow)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := r.Resolve([]string{"builtin", "calculator", "Slow.wait"})
	if err != nil || len(ms) != 3 || ms[0].Name != "calculator" || ms[2].Name != "wait" {
		t.Fatalf("Resolve = %v, %v", ms, err)
	}
	if _, err := r.Resolve([]string{"http://evil.example/hook"}); err == nil {
		t.Fatal("an undeclared tool resolved")
	}
	if _, err := NewRegistry(Builtins(now), &Toolkit{Name: "Other", Methods: []*Method{{Name: "calculator"}}}); err == nil {
		t.Fatal("duplicate method name accepted")
	}
	res, failed := Run(context.Background(), ms[0], json.RawMessage(`{"expression":"sqrt(144)+56"}`))
	if failed || string(res) != `{"expression":"sqrt(144)+56","result":68}` {
		t.Fatalf("calculator: %s %v", res, failed)
	}
	res, failed = Run(context.Background(), ms[1], json.RawMessage(`{"timezone":"America/New_York"}`))
	if failed || !strings.Contains(string(res), `"2026-11-22T07:00:00-05:00"`) {
		t.Fatalf("current_time: %s %v", res, failed)
	}
	res, failed = Run(context.Background(), ms[2], nil)
	if !failed || !strings.Contains(string(res), "did not answer within 10ms") {
		t.Fatalf("timeout: %s %v", res, failed)
	}
	res, failed = Run(context.Background(), ms[0], json.RawMessage(`{not json`))
	if !failed || !strings.Contains(string(res), "not valid JSON") {
		t.Fatalf("bad args: %s %v", res, failed)
	}
}
