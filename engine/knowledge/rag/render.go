package rag

import (
	"strings"
	"unicode/utf8"
)

// Excerpt is a retrieved chunk as the model sees it.
type Excerpt struct {
	// ID is how the model cites the excerpt: [ID].
	ID      string
	Title   string
	Heading string
	Text    string
}

// SectionIntro opens the knowledge section of a system prompt.
const SectionIntro = "# Knowledge\n" +
	"The excerpts below come from the knowledge base. Use them when they are relevant, " +
	"and cite each excerpt you use by its id in square brackets, like [%s]. " +
	"If they do not answer the question, say so rather than guess."

// Section renders excerpts as a system-prompt section, adding them in
// order while the section stays within maxChars characters (0: no
// bound; the first excerpt is always added). It returns the section and
// how many excerpts it holds.
func Section(excerpts []Excerpt, maxChars int) (string, int) {
	if len(excerpts) == 0 {
		return "", 0
	}
	var sb strings.Builder
	sb.WriteString(strings.Replace(SectionIntro, "%s", excerpts[0].ID, 1))
	n := 0
	for _, e := range excerpts {
		var b strings.Builder
		b.WriteString("\n\n[")
		b.WriteString(e.ID)
		b.WriteString("]")
		if label := label(e); label != "" {
			b.WriteString(" ")
			b.WriteString(label)
		}
		b.WriteString("\n")
		b.WriteString(e.Text)
		if maxChars > 0 && n > 0 && utf8.RuneCountInString(sb.String())+utf8.RuneCountInString(b.String()) > maxChars {
			break
		}
		sb.WriteString(b.String())
		n++
	}
	return sb.String(), n
}

func label(e Excerpt) string {
	switch {
	case e.Title != "" && e.Heading != "":
		return e.Title + " — " + e.Heading
	case e.Title != "":
		return e.Title
	default:
		return e.Heading
	}
}
