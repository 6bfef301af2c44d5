package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Money is kept in integers so that sums never drift: an amount in
// micro-dollars (Micros), a token price in pico-dollars per token (Rate).
// One US dollar per million tokens is one micro-dollar per token, so a
// Rate is the price per million tokens in millionths of a dollar: both
// types hold six decimal places of the dollar figures people write.

// Micros is an amount of US dollars in millionths of a dollar. In JSON it
// is a number of dollars with at most six decimals (12.5, 0.000075).
type Micros int64

// Rate is a price per million tokens in US dollars, held as pico-dollars
// per token. In JSON and the Caddyfile it is the dollar figure of a price
// list (0.15 for "$0.15 / 1M tokens"), with at most six decimals.
type Rate int64

const (
	// decimals is how many decimal places of a dollar figure are kept.
	decimals = 6
	// scale is 10^decimals.
	scale = 1_000_000
	// maxDollars bounds a figure: a price of more than a billion dollars
	// (per million tokens, per request or per image) or a budget of more
	// than a billion dollars is a typo, and the bound keeps every product
	// of the cost computation far from overflow.
	maxDollars = 1_000_000_000
)

var errNotDecimal = errors.New("must be a plain decimal number of dollars such as 3 or 0.075 (no sign, no exponent)")

// parseDollars reads a dollar figure with at most six decimals into
// millionths of a dollar, exactly.
func parseDollars(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q %w", s, errNotDecimal)
	}
	if len(frac) > decimals {
		if strings.TrimRight(frac[decimals:], "0") != "" {
			return 0, fmt.Errorf("%q has more than %d decimal places", s, decimals)
		}
		frac = frac[:decimals]
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 10 {
		return 0, fmt.Errorf("%q is more than a billion dollars", s)
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt(frac+strings.Repeat("0", decimals-len(frac)), 10, 64)
	if w > maxDollars || w == maxDollars && f > 0 {
		return 0, fmt.Errorf("%q is more than a billion dollars", s)
	}
	return w*scale + f, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatDollars writes n millionths of a dollar as a decimal without
// trailing zeros: 1500000 → 1.5, 75 → 0.000075.
func formatDollars(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", -u
	}
	s := fmt.Sprintf("%s%d.%06d", sign, u/scale, u%scale)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// ParseMicros reads a dollar amount ("12.50") into Micros.
func ParseMicros(s string) (Micros, error) {
	n, err := parseDollars(s)
	return Micros(n), err
}

// ParseRate reads a price per million tokens in dollars ("0.15").
func ParseRate(s string) (Rate, error) {
	n, err := parseDollars(s)
	return Rate(n), err
}

// String formats m as dollars.
func (m Micros) String() string { return formatDollars(int64(m)) }

// Dollars is m as a float, for Prometheus and display only: sums are
// made in Micros.
func (m Micros) Dollars() float64 { return float64(m) / scale }

// String formats r as dollars per million tokens.
func (r Rate) String() string { return formatDollars(int64(r)) }

// MarshalJSON writes m as a JSON number of dollars.
func (m Micros) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a JSON number of dollars; null leaves m as it is.
func (m *Micros) UnmarshalJSON(b []byte) error {
	n, err := unmarshalDollars(b)
	if err == nil && n != nil {
		*m = Micros(*n)
	}
	return err
}

// unmarshalDollars reads a JSON number of dollars (nil for null). Its
// error is a *json.UnmarshalTypeError, which the decoder completes with
// the field's name, so a client learns which field is wrong.
func unmarshalDollars(b []byte) (*int64, error) {
	if string(b) == "null" {
		return nil, nil
	}
	n, err := parseDollars(string(b))
	if err != nil {
		return nil, &json.UnmarshalTypeError{Value: err.Error(), Type: reflect.TypeFor[float64]()}
	}
	return &n, nil
}

// MarshalJSON writes r as a JSON number of dollars per million tokens.
func (r Rate) MarshalJSON() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalJSON reads a JSON number of dollars per million tokens; null
// leaves r as it is.
func (r *Rate) UnmarshalJSON(b []byte) error {
	n, err := unmarshalDollars(b)
	if err == nil && n != nil {
		*r = Rate(*n)
	}
	return err
}
