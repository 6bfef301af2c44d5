package caddymodule

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestStoreCopyHidesSpecs: a --from or --to that opens no store is an
// error naming the flag and the form it expects, never quoting the spec
// or its part before ':' (a DSN given without its module has its
// password there), nor anything of it the storage module read.
func TestStoreCopyHidesSpecs(t *testing.T) {
	src := "bbolt:" + t.TempDir()
	s, _, err := openStorage(src, false) // makes the store
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	dst := "bbolt:" + t.TempDir()
	for _, spec := range []string{
		"host=db password=s3cret",
		"host=db password=s3cret:x",
		"host=db:5432 password=s3cret",
		"postgres://u:s3cret@db/agentgate",
		"postgres:postgres://u:s3cret@db:port/agentgate",
		"postgres:host=db password=s3cret port=port",
		":s3cret",
		"s3cret:",
	} {
		for _, c := range []struct{ flag, from, to string }{{"--from", spec, dst}, {"--to", src, spec}} {
			var out bytes.Buffer
			err := copyStore(context.Background(), &out, c.from, c.to)
			if err == nil || !strings.HasPrefix(err.Error(), c.flag+": ") || strings.Contains(err.Error()+out.String(), "s3cret") {
				t.Errorf("%s %q: %v (said %q); want an error naming %s without the password", c.flag, spec, err, out.String(), c.flag)
			}
		}
	}
	var out bytes.Buffer
	if err := copyStore(context.Background(), &out, src, "nosuch:x"); err == nil || !strings.Contains(err.Error(), "bbolt, postgres") {
		t.Errorf("--to of no module: %v; want the modules there are", err)
	}
}
