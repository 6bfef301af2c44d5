package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

var documentTests = []Test{
	single("PutScan", testDocuments),
	single("Replace", testDocumentReplace),
	single("TenantIsolation", testDocumentTenantIsolation),
	single("InvalidID", testDocumentInvalidID),
	{Name: "RevisionAcrossInstances", Fn: testDocumentRevisionShared},
}

// doc returns a document of tenant with n chunks; chunks of odd
// sequence numbers carry a vector.
func doc(tenant, source, id string, created time.Time, n int) (*state.Document, []state.Chunk) {
	d := &state.Document{ID: id, Tenant: tenant, Source: source, Title: "Title of " + id, Format: state.FormatMarkdown,
		Chars: 100 * n, Chunks: n, EmbeddingModel: "emb", Metadata: map[string]string{"lang": "en"},
		Created: created, Updated: created.Add(time.Second)}
	chunks := make([]state.Chunk, n)
	for i := range chunks {
		seq := i + 1
		chunks[i] = state.Chunk{ID: fmt.Sprintf("%s#%d", id, seq), DocID: id, Seq: seq, Title: d.Title,
			Heading: "Part " + fmt.Sprint(seq), Text: fmt.Sprintf("text %d of %s", seq, id)}
		if seq%2 == 1 {
			chunks[i].Model = "emb"
			chunks[i].Vector = []float32{float32(seq), -0.5, 1e-7, 3.25}
		}
	}
	return d, chunks
}

func scan(t testing.TB, s state.Store, tenant, source string) []state.Chunk {
	t.Helper()
	var out []state.Chunk
	must(t, s.ScanChunks(ctx, tenant, source, func(c *state.Chunk) error {
		out = append(out, *c)
		return nil
	}))
	return out
}

func chunkIDs(cs []state.Chunk) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func docIDs(ds []*state.Document) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func revision(t testing.TB, s state.Store, tenant, source string) uint64 {
	t.Helper()
	rev, err := s.SourceRevision(ctx, tenant, source)
	must(t, err)
	return rev
}

func testDocuments(t *testing.T, s state.Store) {
	if rev := revision(t, s, "t", "handbook"); rev != 0 {
		t.Fatalf("revision of an unknown source = %d", rev)
	}
	d2, c2 := doc("t", "handbook", "doc_b", day.Add(time.Hour), 3)
	d1, c1 := doc("t", "handbook", "doc_a", day.Add(2*time.Hour), 12) // #10 comes after #9
	d3, c3 := doc("t", "faq", "doc_c", day, 1)
	for _, p := range []struct {
		d *state.Document
		c []state.Chunk
	}{{d2, c2}, {d1, c1}, {d3, c3}} {
		must(t, s.PutDocument(ctx, p.d, p.c))
	}
	got, err := s.GetDocument(ctx, "t", "doc_a")
	must(t, err)
	equalJSON(t, "GetDocument", got, d1)
	_, err = s.GetDocument(ctx, "t", "doc_x")
	wantErr(t, "GetDocument of a missing document", err, state.ErrNotFound)

	list, err := s.ListDocuments(ctx, "t", "handbook")
	must(t, err)
	if ids := docIDs(list); !slices.Equal(ids, []string{"doc_b", "doc_a"}) {
		t.Errorf("ListDocuments(handbook) = %v, want creation order", ids)
	}
	all, err := s.ListDocuments(ctx, "t", "")
	must(t, err)
	if ids := docIDs(all); !slices.Equal(ids, []string{"doc_c", "doc_b", "doc_a"}) {
		t.Errorf("ListDocuments(all) = %v", ids)
	}

	chunks := scan(t, s, "t", "handbook")
	want := append(append([]state.Chunk(nil), c1...), c2...)
	if !slices.Equal(chunkIDs(chunks), chunkIDs(want)) {
		t.Fatalf("ScanChunks = %v, want %v", chunkIDs(chunks), chunkIDs(want))
	}
	for i := range want {
		equalJSON(t, "chunk", chunks[i], want[i])
		if !slices.Equal(chunks[i].Vector, want[i].Vector) {
			t.Errorf("chunk %s vector = %v, want %v", want[i].ID, chunks[i].Vector, want[i].Vector)
		}
	}
	stop := errors.New("stop")
	n := 0
	err = s.ScanChunks(ctx, "t", "handbook", func(*state.Chunk) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanChunks stopped by fn: %v after %d", err, n)
	}

	sources, err := s.ListSources(ctx, "t")
	must(t, err)
	if len(sources) != 2 || sources[0].Name != "faq" || sources[1].Name != "handbook" ||
		sources[1].Documents != 2 || sources[1].Chunks != 15 || sources[0].Chunks != 1 {
		t.Errorf("ListSources = %+v", sources)
	}
	rev := revision(t, s, "t", "handbook")
	if rev == 0 {
		t.Fatal("revision did not move on writes")
	}

	deleted := day.Add(48 * time.Hour)
	must(t, s.DeleteDocument(ctx, "t", "doc_a", deleted))
	wantErr(t, "DeleteDocument twice", s.DeleteDocument(ctx, "t", "doc_a", deleted), state.ErrNotFound)
	if sources, err := s.ListSources(ctx, "t"); err != nil || len(sources) != 2 || !sources[1].Updated.Equal(deleted) {
		t.Errorf("handbook after a delete at %s: %+v %v", deleted, sources, err)
	}
	if got := chunkIDs(scan(t, s, "t", "handbook")); !slices.Equal(got, chunkIDs(c2)) {
		t.Errorf("chunks after delete = %v", got)
	}
	if r := revision(t, s, "t", "handbook"); r <= rev {
		t.Errorf("revision after delete = %d, was %d", r, rev)
	}
	must(t, s.DeleteDocument(ctx, "t", "doc_b", deleted))
	rev = revision(t, s, "t", "handbook")
	sources, err = s.ListSources(ctx, "t")
	must(t, err)
	if len(sources) != 1 || sources[0].Name != "faq" {
		t.Errorf("ListSources after emptying handbook = %+v", sources)
	}
	// An emptied source keeps counting: an index built before cannot be
	// mistaken for current.
	d4, c4 := doc("t", "handbook", "doc_d", day, 1)
	must(t, s.PutDocument(ctx, d4, c4))
	if r := revision(t, s, "t", "handbook"); r <= rev {
		t.Errorf("revision after refilling = %d, was %d", r, rev)
	}
}

func testDocumentReplace(t *testing.T, s state.Store) {
	d, c := doc("t", "a", "doc_1", day, 3)
	must(t, s.PutDocument(ctx, d, c))
	revA := revision(t, s, "t", "a")
	// The same id again, fewer chunks, another source: nothing of the
	// old version remains.
	d2, c2 := doc("t", "b", "doc_1", day, 1)
	d2.Title = "New title"
	must(t, s.PutDocument(ctx, d2, c2))
	if got := scan(t, s, "t", "a"); len(got) != 0 {
		t.Errorf("old chunks remain: %v", chunkIDs(got))
	}
	if got := chunkIDs(scan(t, s, "t", "b")); !slices.Equal(got, []string{"doc_1#1"}) {
		t.Errorf("new chunks = %v", got)
	}
	if r := revision(t, s, "t", "a"); r <= revA {
		t.Errorf("revision of the source left = %d, was %d", r, revA)
	}
	got, err := s.GetDocument(ctx, "t", "doc_1")
	must(t, err)
	if got.Title != "New title" || got.Source != "b" {
		t.Errorf("GetDocument = %+v", got)
	}
	sources, err := s.ListSources(ctx, "t")
	must(t, err)
	if len(sources) != 1 || sources[0].Name != "b" || sources[0].Documents != 1 || sources[0].Chunks != 1 {
		t.Errorf("ListSources = %+v", sources)
	}
	// Replacing in place.
	d3, c3 := doc("t", "b", "doc_1", day, 2)
	must(t, s.PutDocument(ctx, d3, c3))
	if got := chunkIDs(scan(t, s, "t", "b")); !slices.Equal(got, []string{"doc_1#1", "doc_1#2"}) {
		t.Errorf("chunks replaced in place = %v", got)
	}
}

func testDocumentTenantIsolation(t *testing.T, s state.Store) {
	da, ca := doc("tenant-a", "kb", "doc_1", day, 2)
	db, cb := doc("tenant-b", "kb", "doc_1", day, 1)
	db.Title = "B's"
	must(t, s.PutDocument(ctx, da, ca))
	must(t, s.PutDocument(ctx, db, cb))
	got, err := s.GetDocument(ctx, "tenant-b", "doc_1")
	must(t, err)
	if got.Title != "B's" {
		t.Errorf("tenant-b sees %+v", got)
	}
	if n := len(scan(t, s, "tenant-a", "kb")); n != 2 {
		t.Errorf("tenant-a has %d chunks, want 2", n)
	}
	if n := len(scan(t, s, "tenant-b", "kb")); n != 1 {
		t.Errorf("tenant-b has %d chunks, want 1", n)
	}
	_, err = s.GetDocument(ctx, "tenant-c", "doc_1")
	wantErr(t, "another tenant's document", err, state.ErrNotFound)
	wantErr(t, "deleting another tenant's document", s.DeleteDocument(ctx, "tenant-c", "doc_1", day), state.ErrNotFound)
	must(t, s.DeleteDocument(ctx, "tenant-b", "doc_1", day))
	if _, err := s.GetDocument(ctx, "tenant-a", "doc_1"); err != nil {
		t.Errorf("tenant-b's delete removed tenant-a's document: %v", err)
	}
	if n := len(scan(t, s, "tenant-a", "kb")); n != 2 {
		t.Errorf("tenant-a has %d chunks after tenant-b's delete", n)
	}
	list, err := s.ListDocuments(ctx, "tenant-b", "")
	must(t, err)
	if len(list) != 0 {
		t.Errorf("tenant-b lists %v", docIDs(list))
	}
	// A tenant that is a prefix of another sees nothing of it.
	dp, cp := doc("tenant", "kb", "doc_9", day, 1)
	must(t, s.PutDocument(ctx, dp, cp))
	if got := chunkIDs(scan(t, s, "tenant", "kb")); !slices.Equal(got, []string{"doc_9#1"}) {
		t.Errorf("prefix tenant scans %v", got)
	}
}

func testDocumentInvalidID(t *testing.T, s state.Store) {
	for _, tc := range []struct {
		name             string
		tenant, src, id  string
		wrongChunkParent bool
	}{
		{"empty id", "t", "kb", "", false},
		{"empty source", "t", "", "d", false},
		{"NUL in id", "t", "kb", "d\x00", false},
		{"NUL in source", "t", "k\x00b", "d", false},
		{"NUL in tenant", "t\x00", "kb", "d", false},
	} {
		d, c := doc(tc.tenant, tc.src, tc.id, day, 1)
		wantErr(t, tc.name, s.PutDocument(ctx, d, c), state.ErrInvalidID)
	}
	d, c := doc("t", "kb", "d", day, 1)
	c[0].DocID = "other"
	if err := s.PutDocument(ctx, d, c); err == nil {
		t.Error("a chunk of another document was stored")
	}
	_, err := s.GetDocument(ctx, "t", "")
	wantErr(t, "GetDocument of an empty id", err, state.ErrNotFound)
}

// testDocumentRevisionShared: a source written through one instance has
// a new revision when read through the other, so the other's index of it
// knows it is stale.
func testDocumentRevisionShared(t *testing.T, s, twin state.Store) {
	d, chunks := doc("t", "kb", "d1", day, 2)
	must(t, s.PutDocument(ctx, d, chunks))
	r1 := revision(t, twin, "t", "kb")
	if r1 == 0 {
		t.Fatal("revision 0 after a write")
	}
	d2, chunks2 := doc("t", "kb", "d2", day, 1)
	must(t, s.PutDocument(ctx, d2, chunks2))
	if r2 := revision(t, twin, "t", "kb"); r2 == r1 {
		t.Fatalf("revision stayed %d across a write through the other instance", r2)
	}
	if got := scan(t, twin, "t", "kb"); len(got) != 3 {
		t.Fatalf("the other instance scans %d chunks, want 3", len(got))
	}
}
