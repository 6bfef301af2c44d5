// Package wire is the plumbing the HTTP providers (openai, anthropic,
// gemini) share, one concern a file:
//
//   - sse.go: the text/event-stream reader;
//   - jsonenc.go: the number, raw-JSON and string-array helpers of the
//     request builders (strings themselves: internal/jsonx);
//   - options.go: what every provider reads from its configuration (base
//     URL, timeout, stream timeouts, header.<Name>, dial_timeout,
//     header_timeout) and the connection pool built from it;
//   - stall.go: the stream timeouts, a transport that fails a streamed
//     call whose headers are late or whose body goes silent;
//   - httpclient.go: the JSON POST with its call timeout, error body,
//     size limit, stream detection and draining;
//   - errors.go: the mapping of HTTP statuses, Retry-After and
//     retry-after-ms, the classification of transport failures, and the
//     clipping and redaction of upstream messages;
//   - events.go: the start/send/fail/done bookkeeping around adapters.Emit.
//
// It holds no provider's wire format: what an upstream's JSON means stays
// in the provider.
package wire
