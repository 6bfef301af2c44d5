package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeSDK is a directory with npm packages installed, where scripts from
// testdata run with node and resolve their imports.
type nodeSDK struct {
	node string
	dir  string
}

// installNodeSDK installs the npm packages (pinned "name@version" specs)
// into a temporary directory; npm's cache is kept across runs. Without
// node and npm the test is skipped loudly, except under CI=true, where
// .ci/run installs them and their absence is a failure.
func installNodeSDK(ctx context.Context, t *testing.T, packages ...string) *nodeSDK {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are not installed, but CI=true: the npm SDK tests (%s) must run in CI", strings.Join(packages, ", "))
		}
		t.Skipf("\n\n*** SKIPPED: node and npm are not installed: the npm SDK test (%s) needs them ***", strings.Join(packages, ", "))
	}
	dir := t.TempDir()
	cache := filepath.Join(os.TempDir(), "agentgate-e2e-npm-cache")
	if c, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(c, "agentgate-e2e", "npm")
	}
	args := append([]string{"install", "--no-audit", "--no-fund", "--no-save", "--no-package-lock",
		"--prefer-offline", "--loglevel=error", "--prefix", dir, "--cache", cache}, packages...)
	install := exec.CommandContext(ctx, npm, args...)
	install.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("\n\n*** npm install %s FAILED: the SDK could not be installed, so the gateway was NOT checked against it ***\n%v\n%s",
			strings.Join(packages, " "), err, out)
	}
	return &nodeSDK{node: node, dir: dir}
}

// run copies testdata/<script> beside node_modules (so its imports
// resolve there), runs it with args and returns its standard output.
func (s *nodeSDK) run(ctx context.Context, t *testing.T, script string, args ...string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(s.dir, filepath.Base(script))
	if err := os.WriteFile(dst, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, s.node, append([]string{dst}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s\n%s", script, err, out, stderr.String())
	}
	return out
}
