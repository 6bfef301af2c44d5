package wire

import (
	"encoding/json"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, 0.7, -2.5, 1e-7, 123456789, 1e21, 3.14159} {
		got := AppendFloat(nil, f)
		want, _ := json.Marshal(f)
		if string(got) != string(want) {
			t.Errorf("%v: got %s want %s", f, got, want)
		}
	}
}

func TestAppendRaw(t *testing.T) {
	in := "{\n  \"a b\": [1, 2],\t\"c\": \"x \\\" y\"\r\n}"
	if got, want := string(AppendRaw([]byte("x"), []byte(in))), `x{"a b":[1,2],"c":"x \" y"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestIsNullOrEmpty(t *testing.T) {
	for raw, want := range map[string]bool{"": true, " \n": true, "null": true, " null\r\n": true, "nul": false, "{}": false, `"null"`: false} {
		if got := IsNullOrEmpty([]byte(raw)); got != want {
			t.Errorf("%q: got %v", raw, got)
		}
	}
}

func TestAppendStrings(t *testing.T) {
	for ss, want := range map[*[]string]string{{}: `[]`, {"a"}: `["a"]`, {"a", "\"b\u2028"}: `["a","\"b\u2028"]`} {
		if got := string(AppendStrings(nil, *ss)); got != want {
			t.Errorf("%q: got %s, want %s", *ss, got, want)
		}
	}
}
