package providertest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// update is the -update flag of every provider package's tests.
var update = flag.Bool("update", false, "rewrite golden files")

// CheckGolden compares got with the golden file, or rewrites it with
// -update.
func CheckGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// LoadRequest decodes a canonical request fixture, refusing fields the
// request does not have (a fixture's typo would otherwise test nothing).
func LoadRequest(t *testing.T, path string) *adapters.Request {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req adapters.Request
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &req
}

// CheckRequestBody checks an encoded request body against its golden
// file (indented, -update rewrites it): valid, compact JSON that encoding
// again (again) gives byte for byte, whatever the order of the maps it
// came from.
func CheckRequestBody(t *testing.T, golden string, body []byte, again func() ([]byte, error)) {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("invalid JSON body: %s", body)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compact.Bytes(), body) {
		t.Errorf("body is not compact:\n%s", body)
	}
	for range 20 {
		b, err := again()
		if err != nil || !bytes.Equal(b, body) {
			t.Fatalf("body not deterministic:\n%s\n%s", body, b)
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	CheckGolden(t, golden, pretty.Bytes())
}

// ResponseFixtures lists the recorded responses (testdata/responses:
// *.json answers, then *.sse streams), failing t when there are fewer
// than atLeast: a lost directory must not pass as no cases.
func ResponseFixtures(t *testing.T, atLeast int) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"testdata/responses/*.json", "testdata/responses/*.sse"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, files...)
	}
	if len(out) < atLeast {
		t.Fatalf("found %d response fixtures", len(out))
	}
	return out
}

// AddStreamSeeds adds a stream parser's fuzz seeds: the recorded streams
// (testdata/responses/*.sse), then extra.
func AddStreamSeeds(f *testing.F, extra ...string) {
	files, _ := filepath.Glob("testdata/responses/*.sse")
	for _, name := range files {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// Collect is an Emit that appends each event to *evs.
func Collect(evs *[]adapters.Event) adapters.Emit {
	return func(ev adapters.Event) error {
		*evs = append(*evs, ev)
		return nil
	}
}

var kindNames = map[adapters.ErrorKind]string{
	adapters.KindInvalidRequest:  "invalid_request",
	adapters.KindUnauthenticated: "unauthenticated",
	adapters.KindForbidden:       "forbidden",
	adapters.KindNotFound:        "not_found",
	adapters.KindConflict:        "conflict",
	adapters.KindTooLarge:        "too_large",
	adapters.KindRateLimited:     "rate_limited",
	adapters.KindQuotaExceeded:   "quota_exceeded",
	adapters.KindUpstream:        "upstream",
	adapters.KindUnavailable:     "unavailable",
	adapters.KindTimeout:         "timeout",
	adapters.KindInternal:        "internal",
}

// KindName is an error kind's name in goldens and test messages; a kind
// added to adapters and not here shows as kind_<n>.
func KindName(k adapters.ErrorKind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "kind_" + strconv.Itoa(int(k))
}
