package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzCaddyfileAgentgate parses the body of an agentgate global option
// (providers, agents with guardrails and knowledge, prices, toolkits, MCP
// servers, tiers, keys, storage and limits modules…): never a panic, and
// every error says where in the Caddyfile it is. The seeds are the
// agentgate blocks of the adapt golden files.
func FuzzCaddyfileAgentgate(f *testing.F) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if body, ok := agentgateBlock(string(raw)); ok {
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		// NewTestDispenser exits the process on input the lexer refuses.
		tokens, err := caddyfile.Tokenize([]byte("agentgate {\n"+body+"\n}\n"), "Testfile")
		if err != nil {
			return
		}
		_, err = parseGlobal(caddyfile.NewDispenser(tokens), nil)
		if err != nil && !strings.Contains(err.Error(), "Testfile:") {
			t.Fatalf("error without its location: %v", err)
		}
	})
}

// agentgateBlock returns what the agentgate option's braces hold in a
// golden file's Caddyfile.
func agentgateBlock(caddyfile string) (string, bool) {
	_, rest, ok := strings.Cut(caddyfile, "agentgate {\n")
	if !ok {
		return "", false
	}
	depth := 1
	for i, c := range rest {
		switch c {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return rest[:i], true
			}
		}
	}
	return "", false
}
