package rag

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	md := `# Guide

Intro paragraph.

## Install

Run the installer.

### Linux

Use the package.

` + "```sh\napt install x\n\napt install y\n```" + `

## Usage
Just use it.
`
	for _, tc := range []struct {
		name string
		text string
		opts Options
		want []Piece
	}{
		{"empty", "", Options{}, nil},
		{"blank", " \n\n \n", Options{}, nil},
		{"one paragraph", "Hello world.", Options{}, []Piece{{Text: "Hello world."}}},
		{"paragraphs packed", "One.\n\nTwo.\n\nThree.", Options{Size: 100}, []Piece{{Text: "One.\n\nTwo.\n\nThree."}}},
		{"paragraphs split with overlap", "Alpha beta gamma.\n\nDelta epsilon zeta.\n\nEta theta iota.", Options{Size: 40, Overlap: 12},
			[]Piece{{Text: "Alpha beta gamma.\n\nDelta epsilon zeta."}, {Text: "zeta.\n\nEta theta iota."}}},
		{"no overlap", "Alpha beta gamma.\n\nDelta epsilon zeta.\n\nEta theta iota.", Options{Size: 40, Overlap: -1},
			[]Piece{{Text: "Alpha beta gamma.\n\nDelta epsilon zeta."}, {Text: "Eta theta iota."}}},
		{"markdown headings", md, Options{Markdown: true}, []Piece{
			{Heading: "Guide", Text: "Intro paragraph."},
			{Heading: "Guide > Install", Text: "Run the installer."},
			{Heading: "Guide > Install > Linux", Text: "Use the package.\n\n```sh\napt install x\n\napt install y\n```"},
			{Heading: "Guide > Usage", Text: "Just use it."},
		}},
		{"markdown as text", "# Title\n\nBody.", Options{}, []Piece{{Text: "# Title\n\nBody."}}},
		{"heading levels skipped", "### Deep\nx\n# Top\ny", Options{Markdown: true}, []Piece{{Heading: "Deep", Text: "x"}, {Heading: "Top", Text: "y"}}},
		{"not a heading", "#hashtag\n\n#", Options{Markdown: true}, []Piece{{Text: "#hashtag\n\n#"}}},
		{"crlf", "a\r\n\r\nb", Options{Size: 3, Overlap: -1}, []Piece{{Text: "a"}, {Text: "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.text, tc.opts)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("Split:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestSplitLongParagraph checks the size bound, that no text is lost
// and that consecutive chunks overlap.
func TestSplitLongParagraph(t *testing.T) {
	var sb strings.Builder
	for i := range 200 {
		fmt.Fprintf(&sb, "Sentence number %d says something about topic %d. ", i, i%7)
	}
	text := sb.String()
	const size, overlap = 300, 60
	pieces := Split(text, Options{Size: size, Overlap: overlap})
	if len(pieces) < 10 {
		t.Fatalf("%d pieces", len(pieces))
	}
	for i, p := range pieces {
		if n := utf8.RuneCountInString(p.Text); n > size {
			t.Errorf("piece %d has %d characters, more than %d", i, n, size)
		}
		if i > 0 {
			prev := pieces[i-1].Text
			// The piece starts with words from the end of the previous one.
			first := strings.Fields(p.Text)[0]
			if !strings.Contains(prev[max(0, len(prev)-overlap-20):], first) {
				t.Errorf("piece %d does not overlap piece %d: %q after %q", i, i-1, first, prev[max(0, len(prev)-overlap):])
			}
		}
	}
	for i := range 200 {
		s := fmt.Sprintf("Sentence number %d says", i)
		found := false
		for _, p := range pieces {
			if strings.Contains(p.Text, s) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%q is in no piece whole", s)
		}
	}
	// A word longer than a chunk is cut anywhere.
	long := strings.Repeat("x", 1000)
	for _, p := range Split(long, Options{Size: 100, Overlap: -1}) {
		if utf8.RuneCountInString(p.Text) > 100 {
			t.Errorf("piece of %d characters", utf8.RuneCountInString(p.Text))
		}
	}
}

func TestSection(t *testing.T) {
	ex := []Excerpt{
		{ID: "doc_a#1", Title: "Refunds", Heading: "Policy", Text: "Refunds within 30 days."},
		{ID: "doc_b#2", Title: "Shipping", Text: "Ships in 2 days."},
		{ID: "doc_c#3", Text: strings.Repeat("long ", 100)},
	}
	s, n := Section(ex, 0)
	if n != 3 || !strings.Contains(s, "[doc_a#1] Refunds — Policy\nRefunds within 30 days.") ||
		!strings.Contains(s, "[doc_b#2] Shipping\nShips in 2 days.") || !strings.Contains(s, "like [doc_a#1]") {
		t.Errorf("Section = %d\n%s", n, s)
	}
	s, n = Section(ex, 400)
	if n != 2 || strings.Contains(s, "doc_c") {
		t.Errorf("bounded Section = %d\n%s", n, s)
	}
	if s, n := Section(nil, 0); s != "" || n != 0 {
		t.Errorf("empty Section = %q, %d", s, n)
	}
}
