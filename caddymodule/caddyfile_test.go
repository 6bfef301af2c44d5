package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/agentgate/agentgate/state/postgres"
)

var update = flag.Bool("update", false, "rewrite golden files")

const separator = "\n----------\n"

// TestCaddyfileAdapt adapts each testdata/caddyfile_adapt/*.caddyfiletest
// (a Caddyfile, a separator line, then the expected JSON or, for a
// Caddyfile that must fail, "error: <substring>") as `caddy adapt` does.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(raw), separator)
			if !ok {
				t.Fatalf("%s: no separator", f)
			}
			js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(in), nil)
			var got string
			if err != nil {
				got = "error: " + err.Error()
				if w := strings.TrimSpace(want); strings.HasPrefix(w, "error: ") && strings.Contains(got, strings.TrimPrefix(w, "error: ")) {
					return
				}
			} else {
				var buf bytes.Buffer
				if err := json.Indent(&buf, js, "", "\t"); err != nil {
					t.Fatal(err)
				}
				got = buf.String()
			}
			if *update {
				if err := os.WriteFile(f, []byte(in+separator+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Errorf("%s: adapted config differs\n got: %s\nwant: %s", f, got, want)
			}
		})
	}
}
