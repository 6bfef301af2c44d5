package engine

import "strings"

// RenderPrompt fills the {{name}} placeholders of a prompt template from
// vars: names are letters, digits, underscores, hyphens and dots
// ({{user_profile.full_name}}), optionally padded with spaces. It is a
// single pass of plain substitution: nothing is evaluated, values are
// inserted as written (a value holding "{{…}}" is not expanded again), and
// placeholders with no value, or that are not placeholders at all, stay
// exactly as written.
func RenderPrompt(tmpl string, vars map[string]string) string {
	if len(vars) == 0 || !strings.Contains(tmpl, "{{") {
		return tmpl
	}
	var b strings.Builder
	b.Grow(len(tmpl))
	rest := tmpl
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			break
		}
		name := strings.TrimSpace(rest[2:j])
		if v, ok := vars[name]; ok && placeholderName(name) {
			b.WriteString(v)
			rest = rest[j+2:]
			continue
		}
		// Not ours: keep "{{" and look for the next placeholder after it,
		// so "{{{{x}}" still renders its inner placeholder.
		b.WriteString("{{")
		rest = rest[2:]
	}
	b.WriteString(rest)
	return b.String()
}

func placeholderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
