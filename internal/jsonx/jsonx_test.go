package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
)

var samples = []string{"", "plain", "q\"b\\s/", "\x00\x01\x1f\x7f", "<>&", "\u2028\u2029", "ü😀", "bad\xffutf8", "\t\r\n", "a\u2028b", "\b\f"}

func TestAppendString(t *testing.T) {
	for _, appendFn := range []func([]byte, string) []byte{AppendString, AppendStringJS, AppendStringGo} {
		for _, s := range samples {
			got := appendFn(nil, s)
			var back string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("%q -> %s: %v", s, got, err)
			}
			if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
				t.Errorf("%q -> %s -> %q", s, got, back)
			}
		}
	}
}

func TestAppendStringBytes(t *testing.T) {
	tests := []struct{ in, plain, js string }{
		{"<>&", `"<>&"`, `"<>&"`},
		{"a\u2028b\u2029", "\"a\u2028b\u2029\"", `"a\u2028b\u2029"`},
		{"\x00\x1f\"\\\n\r\t", `"\u0000\u001f\"\\\n\r\t"`, `"\u0000\u001f\"\\\n\r\t"`},
		{"bad\xff", `"bad\ufffd"`, `"bad\ufffd"`},
	}
	for _, tt := range tests {
		if got := string(AppendString([]byte("x"), tt.in)); got != "x"+tt.plain {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.plain)
		}
		if got := string(AppendStringJS(nil, tt.in)); got != tt.js {
			t.Errorf("AppendStringJS(%q) = %s, want %s", tt.in, got, tt.js)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sb strings.Builder
		for _, r := range s { // each invalid byte is one U+FFFD
			sb.WriteRune(r)
		}
		want := sb.String()
		for _, b := range [][]byte{AppendString(nil, s), AppendStringJS(nil, s), AppendStringGo(nil, s)} {
			var back string
			if err := json.Unmarshal(b, &back); err != nil || back != want {
				t.Fatalf("%q -> %s -> %q %v", s, b, back, err)
			}
		}
		// AppendStringGo writes json.Marshal's bytes.
		if want, _ := json.Marshal(s); string(AppendStringGo(nil, s)) != string(want) {
			t.Fatalf("AppendStringGo(%q) = %s, json.Marshal %s", s, AppendStringGo(nil, s), want)
		}
	})
}
