package pricing

// Defaults returns the embedded default price table, for the tests that
// check it (the gateway uses DefaultPrices).
func Defaults() (*DefaultTable, error) { return defaults() }
