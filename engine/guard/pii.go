package guard

import (
	"unicode"
	"unicode/utf8"
)

// The kinds of personal data RedactPII names.
const (
	PIIEmail = "email"
	PIIPhone = "phone"
	PIICard  = "card"
)

// PIIKinds lists the kinds of personal data the guard can redact.
var PIIKinds = []string{PIIEmail, PIIPhone, PIICard}

// The built-in patterns. They use no \b: the validators look at the
// characters around a match instead, which a stream keeps (the last
// character emitted, the first held back), so a match is decided the
// same way whatever the chunking.
const (
	// Card numbers: four groups of four digits, the 4-6-5 layout of
	// American Express, or 13 to 19 digits in a row; Luhn-checked.
	cardPattern = `\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{4}|\d{4}[ \-]\d{6}[ \-]\d{5}|\d{13,19}`
	// Emails: a local part, @, one to four dot-separated labels and a
	// top-level domain of letters.
	emailPattern = `[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,3}\.[A-Za-z]{2,24}`
	// Phone numbers: international (+country …), North American
	// ((555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567) and
	// national numbers with a trunk 0 (020 7946 0958); 7 to 15 digits.
	phonePattern = `\+[1-9]\d{0,2}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{1,4}){1,5}` +
		`|\(\d{3}\)[ .\-]?\d{3}[ .\-]?\d{4}` +
		`|\d{3}[.\-]\d{3}[.\-]\d{4}` +
		`|\d{3} \d{3} \d{4}` +
		`|0\d{2,4}[ .\-]?\d{3,4}[ .\-]?\d{3,4}`
)

// piiDetector returns the detector of a kind of personal data.
func piiDetector(kind string) (*detector, bool) {
	var (
		pattern string
		valid   func(string, int, int) bool
	)
	switch kind {
	case PIICard:
		pattern, valid = cardPattern, validCard
	case PIIEmail:
		pattern, valid = emailPattern, validEmail
	case PIIPhone:
		pattern, valid = phonePattern, validPhone
	default:
		return nil, false
	}
	d, err := newDetector(kind, pattern, false, "[REDACTED_"+upperName(kind)+"]", valid)
	if err != nil {
		panic("guard: built-in pattern " + kind + ": " + err.Error())
	}
	return d, true
}

// before and after return the characters around s[start:end] (-1 at the
// edges).
func before(s string, start int) rune {
	if start == 0 {
		return -1
	}
	r, _ := utf8.DecodeLastRuneInString(s[:start])
	return r
}

func after(s string, end int) rune {
	if end >= len(s) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(s[end:])
	return r
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

func isAlnum(r rune) bool { return r >= 0 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

// Luhn reports whether the digits of s (other characters are skipped)
// pass the Luhn checksum of payment card numbers.
func Luhn(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n > 0 && sum%10 == 0
}

func validCard(s string, start, end int) bool {
	if b, a := before(s, start), after(s, end); isAlnum(b) || isAlnum(a) {
		return false
	}
	return Luhn(s[start:end])
}

func validEmail(s string, start, end int) bool {
	b, a := before(s, start), after(s, end)
	if isAlnum(b) || b == '.' || b == '_' || b == '%' || b == '+' || b == '-' {
		return false // the local part is longer than an address can have
	}
	return !isAlnum(a) && a != '-' && a != '@'
}

func validPhone(s string, start, end int) bool {
	b, a := before(s, start), after(s, end)
	if isAlnum(b) || b == '+' || isAlnum(a) {
		return false
	}
	digits := 0
	for i := start; i < end; i++ {
		if isDigit(rune(s[i])) {
			digits++
		}
	}
	return digits >= 7 && digits <= 15
}
