package guard

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// unbounded marks a pattern whose matches have no maximum length.
const unbounded = -1

// MaxHold bounds, in bytes, the text a stream holds back for a pattern
// whose matches are unbounded (a deny pattern with * or +): a match
// longer than that may be split across emitted text. Bounded patterns
// (every built-in detector) hold back at most their longest match.
const MaxHold = 512

// charClass is the set of characters a pattern's matches can contain: a
// match is a run of them, so only the trailing run of such characters
// of a stream can still become (part of) a match.
type charClass struct {
	all   bool
	ascii [utf8.RuneSelf]bool
	// ranges are inclusive pairs of non-ASCII runes.
	ranges []rune
}

func (c *charClass) has(r rune) bool {
	if c.all {
		return true
	}
	if r < utf8.RuneSelf {
		return r >= 0 && c.ascii[r]
	}
	// ranges holds lo, hi pairs in order: find the first pair whose hi
	// is at least r.
	lo, hi := 0, len(c.ranges)/2
	for lo < hi {
		m := (lo + hi) / 2
		if c.ranges[2*m+1] < r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(c.ranges)/2 && c.ranges[2*lo] <= r
}

// addRange adds lo..hi.
func (c *charClass) addRange(lo, hi rune) {
	for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
		c.ascii[r] = true
	}
	if hi >= utf8.RuneSelf {
		c.ranges = append(c.ranges, max(lo, utf8.RuneSelf), hi)
	}
}

// normalize sorts and merges the non-ASCII ranges.
func (c *charClass) normalize() {
	if len(c.ranges) == 0 {
		return
	}
	type pair struct{ lo, hi rune }
	ps := make([]pair, 0, len(c.ranges)/2)
	for i := 0; i+1 < len(c.ranges); i += 2 {
		ps = append(ps, pair{c.ranges[i], c.ranges[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return int(a.lo - b.lo) })
	out := c.ranges[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && p.lo <= out[n-1]+1 {
			out[n-1] = max(out[n-1], p.hi)
			continue
		}
		out = append(out, p.lo, p.hi)
	}
	c.ranges = out
}

// nonASCII reports whether the class holds characters beyond ASCII.
func (c *charClass) nonASCII() bool { return c.all || len(c.ranges) > 0 }

// analyze returns the characters pattern's matches can contain and the
// most characters a match can have (unbounded when unlimited).
func analyze(re *syntax.Regexp) (*charClass, int) {
	c := &charClass{}
	n := walk(re, c)
	c.normalize()
	return c, n
}

func walk(re *syntax.Regexp, c *charClass) int {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			c.addRange(r, r)
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					c.addRange(f, f)
				}
			}
		}
		return len(re.Rune)
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			c.addRange(re.Rune[i], re.Rune[i+1])
		}
		return 1
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		c.all = true
		return 1
	case syntax.OpCapture:
		return walk(re.Sub[0], c)
	case syntax.OpStar, syntax.OpPlus:
		if walk(re.Sub[0], c) == 0 {
			return 0
		}
		return unbounded
	case syntax.OpQuest:
		return walk(re.Sub[0], c)
	case syntax.OpRepeat:
		n := walk(re.Sub[0], c)
		if n == unbounded || (re.Max == -1 && n > 0) {
			return unbounded
		}
		if re.Max == -1 {
			return 0
		}
		return n * re.Max
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n := walk(s, c)
			if n == unbounded || total == unbounded {
				total = unbounded
				continue
			}
			total += n
		}
		return total
	case syntax.OpAlternate:
		most := 0
		for _, s := range re.Sub {
			n := walk(s, c)
			if n == unbounded || most == unbounded {
				most = unbounded
				continue
			}
			most = max(most, n)
		}
		return most
	default: // empty-width assertions, empty match, no match
		return 0
	}
}

// required returns classes of which every match holds at least one
// character: the literals and classes a match cannot do without (an
// email's "@", a card's digits). A text without one of them cannot match,
// which spares most texts the regexp.
func required(re *syntax.Regexp) []*charClass {
	switch re.Op {
	case syntax.OpLiteral:
		var out []*charClass
		for _, r := range re.Rune {
			c := &charClass{}
			c.addRange(r, r)
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					c.addRange(f, f)
				}
			}
			c.normalize()
			out = append(out, c)
		}
		return out
	case syntax.OpCharClass:
		c := &charClass{}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			c.addRange(re.Rune[i], re.Rune[i+1])
		}
		c.normalize()
		return []*charClass{c}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		var out []*charClass
		for _, sub := range re.Sub {
			out = append(out, required(sub)...)
		}
		return out
	case syntax.OpAlternate:
		// Only what every alternative requires.
		common := required(re.Sub[0])
		for _, sub := range re.Sub[1:] {
			other := required(sub)
			common = slices.DeleteFunc(common, func(c *charClass) bool {
				return !slices.ContainsFunc(other, c.equal)
			})
		}
		return common
	default:
		return nil
	}
}

func (c *charClass) equal(o *charClass) bool {
	return c.all == o.all && c.ascii == o.ascii && slices.Equal(c.ranges, o.ranges)
}

// anyIn reports whether s holds a character of c.
func (c *charClass) anyIn(s string) bool {
	if c.all {
		return s != ""
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if c.ascii[b] {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if c.has(r) {
			return true
		}
		i += size
	}
	return false
}

// detector finds one kind of match: a deny rule, a redaction rule or a
// kind of personal data.
type detector struct {
	name string
	deny bool
	// replacement replaces a redacted match.
	replacement string
	re          *regexp.Regexp
	// valid, when set, accepts or rejects a match s[start:end] (s holds
	// the character before the match, when there is one, and after it).
	valid func(s string, start, end int) bool
	class *charClass
	// needs are classes every match holds a character of (required).
	needs []*charClass
	// hold is the most bytes of a stream's tail that can still become
	// part of a match: the longest match in bytes, plus one character
	// of look-ahead, or MaxHold for unbounded patterns.
	hold int
}

func newDetector(name, pattern string, deny bool, replacement string, valid func(string, int, int) bool) (*detector, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	simple := parsed.Simplify()
	class, n := analyze(simple)
	hold := MaxHold
	if n != unbounded {
		width := 1
		if class.nonASCII() {
			width = utf8.UTFMax
		}
		hold = min((n+1)*width, MaxHold)
	}
	if n == 0 {
		return nil, fmt.Errorf("pattern matches only empty text")
	}
	needs := required(simple)
	// Fewer checks are faster: the rarest requirements first would be
	// better still, but any order is correct. Drop duplicates.
	needs = slices.CompactFunc(needs, func(a, b *charClass) bool { return a.equal(b) })
	return &detector{name: name, deny: deny, replacement: replacement, re: re, valid: valid, class: class, needs: needs, hold: hold}, nil
}

// mayMatch reports whether s holds a character of every class d's matches
// require: when it does not, d cannot match in s.
func (d *detector) mayMatch(s string) bool {
	for _, c := range d.needs {
		if !c.anyIn(s) {
			return false
		}
	}
	return true
}

// tailHold is how many bytes at the end of s may still become part of a
// match of d: the trailing run of characters d's matches can contain,
// at most d.hold.
func (d *detector) tailHold(s string) int {
	i := len(s)
	for i > 0 && len(s)-i < d.hold {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if !d.class.has(r) {
			break
		}
		i -= size
	}
	return len(s) - i
}
