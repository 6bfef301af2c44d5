package testgate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// LogEntry is one line of Caddy's JSON log: level, logger, msg and the
// entry's fields.
type LogEntry map[string]any

// Level, Logger and Msg are the entry's standard fields.
func (e LogEntry) Level() string  { s, _ := e["level"].(string); return s }
func (e LogEntry) Logger() string { s, _ := e["logger"].(string); return s }
func (e LogEntry) Msg() string    { s, _ := e["msg"].(string); return s }

// String is the entry's field as a string ("" when absent).
func (e LogEntry) String(field string) string {
	switch v := e[field].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// LogCapture is a log file Caddy writes besides its own logs.
type LogCapture struct {
	// Path is the file the entries are written to.
	Path string
	t    testing.TB
}

// CaptureLog returns a capture of Caddy's log entries, as JSON, into a
// file of the test's. Its Global is the global option that asks for it:
// put it in Config.Global.
func CaptureLog(t testing.TB) *LogCapture {
	return &LogCapture{Path: filepath.Join(t.TempDir(), "caddy.log.json"), t: t}
}

// Global is the Caddyfile global option that writes the capture of every
// entry at level (DEBUG, INFO…) and above: a named log of its own, beside
// the default one the test gateways keep at ERROR.
func (c *LogCapture) Global(level string) string {
	return fmt.Sprintf("log capture {\n\t\toutput file %s\n\t\tformat json\n\t\tlevel %s\n\t}", c.Path, level)
}

// Entries returns what was logged so far.
func (c *LogCapture) Entries() []LogEntry {
	c.t.Helper()
	b, err := os.ReadFile(c.Path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return ParseLog(c.t, b)
}

// Raw returns the file's bytes, for looking for what must never be
// logged.
func (c *LogCapture) Raw() string {
	b, _ := os.ReadFile(c.Path)
	return string(b)
}

// ParseLog parses Caddy's JSON log lines; lines that are not JSON (a
// process's own output) are skipped.
func ParseLog(t testing.TB, b []byte) []LogEntry {
	var out []LogEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e LogEntry
		if err := json.Unmarshal(line, &e); err != nil {
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Filter returns the entries for which keep is true.
func Filter(entries []LogEntry, keep func(LogEntry) bool) []LogEntry {
	var out []LogEntry
	for _, e := range entries {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
