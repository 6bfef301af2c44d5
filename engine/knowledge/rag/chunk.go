// Package rag cuts knowledge documents into chunks for retrieval and
// renders retrieved chunks as a context section. Storage, embedding and
// ranking live elsewhere (state, engine/knowledge).
package rag

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults of Options.
const (
	DefaultChunkChars   = 1200
	DefaultChunkOverlap = 150
)

// Options tune Split. Sizes are in characters.
type Options struct {
	// Size bounds a chunk's text; 0 means DefaultChunkChars.
	Size int
	// Overlap is how much of the end of a chunk the next chunk of the same
	// section repeats, so a passage cut between two chunks is whole in
	// one of them; 0 means DefaultChunkOverlap, negative none.
	Overlap int
	// Markdown splits at headings (ATX, outside code fences) and records
	// each chunk's heading path.
	Markdown bool
}

// Piece is one chunk of a document.
type Piece struct {
	// Heading is the path of Markdown headings the chunk falls under,
	// joined by " > " ("Guide > Install > Linux").
	Heading string
	Text    string
}

// Split cuts text into chunks of at most opts.Size characters: by
// sections (Markdown headings), then paragraphs (blank lines; a fenced
// code block is one paragraph), packing whole paragraphs while they fit;
// a paragraph too long for one chunk is cut at sentence ends, then at
// spaces, then anywhere. Consecutive chunks of one section overlap by up
// to opts.Overlap characters, cut at a word boundary.
func Split(text string, opts Options) []Piece {
	size := opts.Size
	if size <= 0 {
		size = DefaultChunkChars
	}
	overlap := opts.Overlap
	if overlap == 0 {
		overlap = DefaultChunkOverlap
	}
	overlap = min(max(overlap, 0), size/2)
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	var out []Piece
	for _, sec := range sections(text, opts.Markdown) {
		var cur strings.Builder
		curLen := 0
		flush := func() {
			t := strings.TrimSpace(cur.String())
			if t != "" {
				out = append(out, Piece{Heading: sec.heading, Text: t})
			}
			cur.Reset()
			curLen = 0
			if t != "" && overlap > 0 {
				tail := tailWords(t, overlap)
				cur.WriteString(tail)
				curLen = utf8.RuneCountInString(tail)
			}
		}
		fresh := true // cur holds only overlap (or nothing)
		for _, para := range sec.paragraphs {
			for _, part := range fit(para, size-overlap-2) {
				n := utf8.RuneCountInString(part)
				if !fresh && curLen+2+n > size {
					flush()
					fresh = true
				}
				if curLen > 0 {
					cur.WriteString("\n\n")
					curLen += 2
				}
				cur.WriteString(part)
				curLen += n
				fresh = false
			}
		}
		if !fresh {
			t := strings.TrimSpace(cur.String())
			if t != "" {
				out = append(out, Piece{Heading: sec.heading, Text: t})
			}
		}
	}
	return out
}

type section struct {
	heading    string
	paragraphs []string
}

// sections splits text at Markdown headings (when markdown) and each
// section into paragraphs.
func sections(text string, markdown bool) []section {
	var (
		out    []section
		path   []string // heading titles by level - 1
		cur    section
		para   []string
		fenced bool
	)
	endPara := func() {
		if p := strings.TrimSpace(strings.Join(para, "\n")); p != "" {
			cur.paragraphs = append(cur.paragraphs, p)
		}
		para = para[:0]
	}
	endSection := func() {
		endPara()
		if len(cur.paragraphs) > 0 {
			out = append(out, cur)
		}
		cur = section{}
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if markdown && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			if !fenced {
				endPara()
			}
			fenced = !fenced
			para = append(para, line)
			if !fenced {
				endPara()
			}
			continue
		}
		if fenced {
			para = append(para, line)
			continue
		}
		if markdown {
			if level, title, ok := heading(trimmed); ok {
				endSection()
				if level > len(path) {
					for len(path) < level-1 {
						path = append(path, "")
					}
					path = append(path, title)
				} else {
					path = append(path[:level-1], title)
				}
				cur.heading = joinPath(path)
				continue
			}
		}
		if trimmed == "" {
			endPara()
			continue
		}
		para = append(para, line)
	}
	endSection()
	return out
}

// heading parses an ATX heading line: 1 to 6 '#', a space, a title.
func heading(line string) (int, string, bool) {
	level := 0
	for level < len(line) && line[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || (level < len(line) && line[level] != ' ' && line[level] != '\t') {
		return 0, "", false
	}
	title := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(line[level:]), "#"))
	if title == "" {
		return 0, "", false
	}
	return level, title, true
}

func joinPath(path []string) string {
	var parts []string
	for _, p := range path {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " > ")
}

// fit cuts a paragraph into parts of at most size characters: at
// sentence ends, then spaces, then anywhere.
func fit(para string, size int) []string {
	size = max(size, 1)
	if utf8.RuneCountInString(para) <= size {
		return []string{para}
	}
	var out []string
	rest := para
	for utf8.RuneCountInString(rest) > size {
		cut := byteIndexOfRune(rest, size) // the most that fits
		head := rest[:cut]
		at := lastSentenceEnd(head)
		if at < len(head)/3 {
			if sp := strings.LastIndexFunc(head, unicode.IsSpace); sp > len(head)/3 {
				at = sp
			} else {
				at = cut
			}
		}
		out = append(out, strings.TrimSpace(rest[:at]))
		rest = strings.TrimLeftFunc(rest[at:], unicode.IsSpace)
	}
	if rest != "" {
		out = append(out, rest)
	}
	return out
}

// byteIndexOfRune is the byte offset of the n-th rune of s.
func byteIndexOfRune(s string, n int) int {
	i := 0
	for n > 0 && i < len(s) {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n--
	}
	return i
}

// lastSentenceEnd is the offset just after the last ". ", "! ", "? " or
// line break of s, or -1.
func lastSentenceEnd(s string) int {
	best := -1
	for i := 0; i+1 < len(s); i++ {
		if (s[i] == '.' || s[i] == '!' || s[i] == '?') && (s[i+1] == ' ' || s[i+1] == '\n') {
			best = i + 1
		}
		if s[i] == '\n' {
			best = i + 1
		}
	}
	return best
}

// tailWords is the end of s, at most n characters, starting at a word.
func tailWords(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return ""
	}
	i := len(s)
	for k := 0; k < n && i > 0; k++ {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	tail := s[i:]
	if sp := strings.IndexFunc(tail, unicode.IsSpace); sp >= 0 && i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			tail = tail[sp:] // drop the partial first word
		}
	}
	return strings.TrimSpace(tail)
}
