package rag

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSplit: no text or options make Split panic; every chunk is
// non-empty, trimmed, valid UTF-8 when the text is, and within the size
// (for sizes that leave room for the overlap and a paragraph break); a
// plain text with any non-space content gives at least one chunk.
func FuzzSplit(f *testing.F) {
	for _, c := range []struct {
		text     string
		size     int
		overlap  int
		markdown bool
	}{
		{"# Guide\n\nIntro.\n\n## Install\n\n```sh\napt install x\n\napt install y\n```\n", 0, 0, true},
		{"Alpha beta gamma.\n\nDelta epsilon zeta.\n\nEta theta iota.", 40, 12, false},
		{"One. Two. Three. " + strings.Repeat("word ", 50), 20, 5, false},
		{strings.Repeat("x", 100), 7, 3, false},
		{"a\r\nb\rc\n\n\n#\n####### seven\n# \n~~~\nunclosed", 3, -1, true},
		{"é😀\u00a0\u2028" + strings.Repeat("語", 30), 5, 100, false},
		{"\xff\xfe", 1, 1, false},
	} {
		f.Add(c.text, c.size, c.overlap, c.markdown)
	}
	f.Fuzz(func(t *testing.T, text string, size, overlap int, markdown bool) {
		if size > 1<<16 || overlap > 1<<16 || len(text) > 1<<16 {
			return
		}
		pieces := Split(text, Options{Size: size, Overlap: overlap, Markdown: markdown})
		effective := size
		if effective <= 0 {
			effective = DefaultChunkChars
		}
		for i, p := range pieces {
			if p.Text == "" || strings.TrimSpace(p.Text) != p.Text {
				t.Fatalf("piece %d %q is empty or untrimmed", i, p.Text)
			}
			if utf8.ValidString(text) && !utf8.ValidString(p.Text) {
				t.Fatalf("piece %d %q is not valid UTF-8", i, p.Text)
			}
			if n := utf8.RuneCountInString(p.Text); effective >= 8 && n > effective {
				t.Fatalf("piece %d has %d characters, more than %d: %q", i, n, effective, p.Text)
			}
		}
		if !markdown && strings.TrimFunc(text, unicode.IsSpace) != "" && len(pieces) == 0 {
			t.Fatalf("%q gave no chunks", text)
		}
	})
}
