package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// defaultsJSON is the default price table: the common OpenAI, Anthropic
// and Gemini models, with the date the prices were read and the pages
// they were read from.
//
//go:embed defaults.json
var defaultsJSON []byte

// DefaultTable is the embedded default price table.
type DefaultTable struct {
	// Taken is the date (YYYY-MM-DD) the prices were read.
	Taken string `json:"taken"`
	Unit  string `json:"unit"`
	// Sources maps each provider to the price page its entries come from.
	Sources map[string]string `json:"sources"`
	Notes   []string          `json:"notes"`
	Prices  []DefaultPrice    `json:"prices"`
}

// DefaultPrice is one entry of the default table and the provider whose
// price page it comes from.
type DefaultPrice struct {
	Price
	Source string `json:"source"`
}

var defaults = sync.OnceValues(func() (*DefaultTable, error) {
	d := new(DefaultTable)
	dec := json.NewDecoder(bytes.NewReader(defaultsJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(d); err != nil {
		return nil, fmt.Errorf("pricing: the embedded default table: %w", err)
	}
	for _, p := range d.Prices {
		if _, ok := d.Sources[p.Source]; !ok {
			return nil, fmt.Errorf("pricing: the embedded default table: %q names no known source (%q)", p.Model, p.Source)
		}
	}
	return d, nil
})

// DefaultPrices returns the prices of the default table.
func DefaultPrices() ([]Price, error) {
	d, err := defaults()
	if err != nil {
		return nil, err
	}
	out := make([]Price, len(d.Prices))
	for i, p := range d.Prices {
		out[i] = p.Price
	}
	return out, nil
}
