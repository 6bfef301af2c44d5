// Package otlptest is a small OTLP/HTTP trace receiver for tests: it
// takes what an OpenTelemetry exporter sends to /v1/traces (protobuf,
// gzip-compressed or not), decodes it with the OTLP protobuf definitions
// and keeps the spans, so a test can look at the trace a real Caddy
// exported.
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span: its ids in hex, name, kind and attributes
// (values as text: strings as they are, numbers and booleans formatted,
// arrays as a list of their items' text).
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Kind                      tracepb.Span_SpanKind
	Attrs                     map[string]any
	// Error is the span's status message when its status is an error.
	Error  string
	Failed bool
	// Scope is the instrumentation scope that made it.
	Scope string
	Start time.Time
}

// Attr returns the attribute key as text ("" when absent).
func (s Span) Attr(key string) string {
	v, _ := s.Attrs[key].(string)
	return v
}

// Receiver is a running OTLP/HTTP receiver.
type Receiver struct {
	// URL is its base URL: what OTEL_EXPORTER_OTLP_ENDPOINT takes.
	URL string
	srv *httptest.Server

	mu    sync.Mutex
	spans []Span
	errs  []error
}

// Start starts a receiver and stops it when the test ends.
func Start(t testing.TB) *Receiver {
	r := &Receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

// Env is the environment that makes an OpenTelemetry SDK's autoexport
// (what Caddy's tracing module uses) send traces here over OTLP/HTTP,
// batched for at most 50ms.
func (r *Receiver) Env() map[string]string {
	return map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY":     "50",
	}
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail(w, err)
			return
		}
		defer zr.Close()
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		r.fail(w, err)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		r.fail(w, err)
		return
	}
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				got = append(got, spanOf(sp, ss.GetScope().GetName()))
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *Receiver) fail(w http.ResponseWriter, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func spanOf(sp *tracepb.Span, scope string) Span {
	s := Span{TraceID: hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId()),
		ParentID: hex.EncodeToString(sp.GetParentSpanId()), Name: sp.GetName(), Kind: sp.GetKind(),
		Attrs: map[string]any{}, Scope: scope, Start: time.Unix(0, int64(sp.GetStartTimeUnixNano()))}
	for _, kv := range sp.GetAttributes() {
		s.Attrs[kv.GetKey()] = valueOf(kv.GetValue())
	}
	if st := sp.GetStatus(); st.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		s.Failed, s.Error = true, st.GetMessage()
	}
	return s
}

// valueOf is an attribute value as text, or a list of texts for an array.
func valueOf(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return formatInt(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	case *commonpb.AnyValue_DoubleValue:
		return formatFloat(x.DoubleValue)
	case *commonpb.AnyValue_ArrayValue:
		var out []any
		for _, item := range x.ArrayValue.GetValues() {
			out = append(out, valueOf(item))
		}
		return out
	}
	return nil
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Errors returns what the receiver could not decode.
func (r *Receiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// WaitFor waits until done holds of the spans received (checking each
// time some arrive), for at most 10s, and returns them.
func (r *Receiver) WaitFor(t testing.TB, done func([]Span) bool) []Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := r.Spans()
		if done(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spans received never became what the test waits for (%d received, errors %v)", len(spans), r.Errors())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitForRequest waits for a request's own span, "agentgate", which ends
// after every span below it: once it is in, so are they. It returns the
// latest request span received and every span received.
func (r *Receiver) WaitForRequest(t testing.TB) (Span, []Span) {
	t.Helper()
	var request Span
	spans := r.WaitFor(t, func(s []Span) bool {
		found := false
		for _, sp := range s {
			if sp.Name == "agentgate" {
				request, found = sp, true
			}
		}
		return found
	})
	return request, spans
}

// Below returns the spans named name whose parent is parent.
func Below(spans []Span, parent Span, name string) []Span {
	var out []Span
	for _, sp := range spans {
		if sp.ParentID == parent.SpanID && sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

func formatInt(n int64) string     { return strconv.FormatInt(n, 10) }
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
