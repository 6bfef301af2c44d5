package adapters

// ProjectRule says what ValidProject accepts, for error messages.
const ProjectRule = "1 to 128 letters, digits, '_', '-', '.' or ':'"

// ValidProject reports whether s can name a project: what a request may
// send in Tenzro's project header, so also what an API key may be limited
// to (a key limited to any other name could never be used).
func ValidProject(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
