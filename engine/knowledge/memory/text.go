package memory

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenize splits text into the terms keyword (BM25) ranking uses: runs of
// letters and digits, lower-cased, without common English stop words,
// with a plural "s" dropped ("refunds" matches "refund").
func Tokenize(text string) []string {
	var out []string
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if t := term(text[start:end]); t != "" {
			out = append(out, t)
		}
		start = -1
	}
	for i, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(text))
	return out
}

func term(w string) string {
	if len(w) > 64 || len(w) == 1 && (w[0] < '0' || w[0] > '9') {
		return "" // not a word: a hash, a blob, a stray letter ("what's")
	}
	ascii := true
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			ascii = false
			break
		}
	}
	if !ascii {
		w = strings.ToLower(w)
	}
	if stopWords[w] {
		return ""
	}
	if n := len(w); n > 3 && w[n-1] == 's' && w[n-2] != 's' && w[n-2] != 'u' && w[n-2] != 'i' {
		w = w[:n-1]
	}
	return w
}

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be been but by can could did do does for from had has
		have how i if in into is it its me my no not of on or our so than that the their them then there these
		they this to too very was we were what when where which who why will with would you your yours`) {
		m[w] = true
	}
	return m
}()
