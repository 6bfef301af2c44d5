package openai

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// forwardBody is a passed-through request's body as the gateway read it:
// a JSON body in full (it is small and bounded), or a stream of which
// only what was needed to find the model has been read.
type forwardBody struct {
	// json is the whole body of a JSON request; nil for a stream.
	json []byte
	// stream is the body of any other request: what was read to find
	// the model, then the rest as it arrives.
	stream io.Reader
	// length is the body's size, -1 when unknown.
	length int64
	// model is the model the body names, "" when none.
	model string
	// form is the multipart boundary when the model sits in a form field.
	boundary string
	// refs are the objects a JSON body refers to, by field.
	refs []objectRef
	// spool holds what was read of a stream to find its model.
	spool *spool
	// rewritten is the reading end of a form rewritten part by part
	// (withModel): closed when the request ends, so the goroutine
	// copying into it ends too when the body was never sent.
	rewritten *io.PipeReader
}

// objectRef is an object id a request body names in field.
type objectRef struct {
	field, id string
}

// maxFieldBytes bounds a multipart form field the gateway reads (model).
const maxFieldBytes = 1 << 10

// readForwardBody reads what the gateway needs of r's body: a JSON body
// whole (up to limit; larger is a 413), the model field of a multipart
// form (reading, and spooling, only the parts before it), nothing of any
// other body. modelless is set for endpoints whose forms carry no model
// (file uploads), which then stream untouched.
func readForwardBody(r *http.Request, limit int64, modelless bool) (*forwardBody, error) {
	fb := &forwardBody{length: r.ContentLength}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		fb.length = 0
		return fb, nil
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/json" || mt == "" && r.Method == http.MethodPost:
		body, err := dialects.ReadBody(r, limit)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) > 0 && !validjson.Bytes(body) {
			return nil, adapters.BadField("body", "is not valid JSON")
		}
		fb.json, fb.length = body, int64(len(body))
		if m := gjson.GetBytes(body, "model"); m.Exists() {
			if m.Type != gjson.String {
				return nil, adapters.BadField("model", "must be a string")
			}
			fb.model = m.Str
		}
		fb.refs = jsonRefs(body)
		return fb, nil
	case mt == "multipart/form-data" && !modelless && params["boundary"] != "":
		fb.boundary = params["boundary"]
		return fb, fb.peekModel(r.Body)
	}
	fb.stream = r.Body
	return fb, nil
}

// peekModel reads a multipart form up to its model field, keeping what it
// read in a spool (memory, then a temporary file) so the body goes
// upstream unchanged. SDKs send the model before the file (Python) or
// after it (openai-go orders fields by name, openai-node as the caller
// wrote them), so a file before the model is spooled to disk, never held
// in memory.
func (fb *forwardBody) peekModel(body io.Reader) error {
	fb.spool = newSpool()
	fb.stream = io.MultiReader(fb.spool, body)
	mr := multipart.NewReader(io.TeeReader(body, fb.spool), fb.boundary)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return adapters.BadField("body", "is not a valid multipart form: %v", err)
		}
		if part.FormName() == "model" && part.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return adapters.BadField("model", "cannot be read: %v", err)
			}
			if len(v) > maxFieldBytes {
				return adapters.BadField("model", "is too long")
			}
			fb.model = string(v)
			return nil
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return adapters.BadField("body", "is not a valid multipart form: %v", err)
		}
	}
}

// withModel makes the body name model instead of the one it named (an
// alias resolved, a routing prefix stripped): patched in a JSON body,
// rewritten part by part, as it streams, in a form.
func (fb *forwardBody) withModel(model string) error {
	if model == fb.model {
		return nil
	}
	if fb.json != nil {
		b, err := sjson.SetBytes(fb.json, "model", model)
		if err != nil {
			return err
		}
		fb.json, fb.length = b, int64(len(b))
		return nil
	}
	src := multipart.NewReader(fb.stream, fb.boundary)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(copyForm(pw, src, fb.boundary, model)) }()
	fb.stream, fb.length, fb.rewritten = pr, -1, pr
	return nil
}

// copyForm writes the parts of src to w with the model field's value
// replaced.
func copyForm(w io.Writer, src *multipart.Reader, boundary, model string) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	for {
		part, err := src.NextPart()
		if errors.Is(err, io.EOF) {
			return mw.Close()
		}
		if err != nil {
			return err
		}
		dst, err := mw.CreatePart(part.Header)
		if err != nil {
			return err
		}
		if part.FormName() == "model" && part.FileName() == "" {
			_, err = io.WriteString(dst, model)
		} else {
			_, err = io.Copy(dst, part)
		}
		if err != nil {
			return err
		}
	}
}

// streamUsageEndpoints are the passthrough's endpoints whose streams
// report usage only when asked (stream_options.include_usage): the
// legacy completions. The others' streams report it unasked (responses,
// audio, images), and refuse a stream_options they do not know.
var streamUsageEndpoints = map[string]bool{"completions": true}

// askStreamUsage makes a streamed JSON body ask for its stream's usage,
// as the raw lane does (askUsage), so that the stream is metered whether
// the client asked or not: streamed tells that the body asks for a
// stream, strip that the client did not ask for the usage chunk, which
// is then dropped on the way back. A body naming stream or
// stream_options twice, or in another case, is refused: an upstream
// might read another of them than the gateway did (the last, or one
// folded to the name), and stream unmetered.
func (fb *forwardBody) askStreamUsage() (streamed, strip bool, err error) {
	var stream, so gjson.Result
	gjson.ParseBytes(fb.json).ForEach(func(k, v gjson.Result) bool {
		for _, f := range [...]struct {
			name string
			v    *gjson.Result
		}{{"stream", &stream}, {"stream_options", &so}} {
			if !strings.EqualFold(k.Str, f.name) {
				continue
			}
			if k.Str != f.name || f.v.Exists() {
				err = adapters.BadField(f.name, "must be given once, as %q", f.name)
				return false
			}
			*f.v = v
		}
		return true
	})
	switch {
	case err != nil:
		return false, false, err
	case stream.Type == gjson.True:
	case !stream.Exists() || stream.Type == gjson.False || stream.Type == gjson.Null:
		return false, false, nil
	default:
		return false, false, adapters.BadField("stream", "must be a boolean")
	}
	at := span{}
	if so.Exists() {
		if !so.IsObject() && so.Type != gjson.Null {
			return false, false, adapters.BadField("stream_options", "must be an object")
		}
		at = span{so.Index, len(so.Raw)}
	}
	e, asked := askUsage(fb.json, at)
	if asked {
		return true, false, nil
	}
	if fb.json, err = applyEdits(fb.json, []edit{e}); err != nil {
		return false, false, err
	}
	fb.length = int64(len(fb.json))
	return true, true, nil
}

// reader returns the body to send upstream.
func (fb *forwardBody) reader() io.Reader {
	if fb.json != nil {
		return bytes.NewReader(fb.json)
	}
	if fb.stream == nil {
		return http.NoBody
	}
	return fb.stream
}

// close ends a rewritten form's copy and removes a spool file.
func (fb *forwardBody) close() {
	if fb.rewritten != nil {
		fb.rewritten.CloseWithError(errRequestEnded)
	}
	if fb.spool != nil {
		fb.spool.close()
	}
}

// errRequestEnded stops the copy of a rewritten form nobody will read.
var errRequestEnded = errors.New("the request ended")

// refFields are the body fields that name objects made upstream: a
// request may only name its own tenant's.
var refFields = map[string]bool{
	"file_id": true, "file_ids": true, "input_file_id": true, "training_file": true, "validation_file": true,
	"vector_store_id": true, "vector_store_ids": true, "upload_id": true, "batch_id": true, "container_id": true,
}

// maxRefDepth bounds how deep jsonRefs looks.
const maxRefDepth = 8

// jsonRefs collects the object ids a JSON body names in refFields,
// wherever they sit.
func jsonRefs(body []byte) []objectRef {
	var out []objectRef
	var walk func(v gjson.Result, depth int)
	walk = func(v gjson.Result, depth int) {
		if depth > maxRefDepth || !v.IsObject() && !v.IsArray() {
			return
		}
		v.ForEach(func(k, item gjson.Result) bool {
			if k.Type == gjson.String && refFields[k.Str] {
				if item.Type == gjson.String {
					out = append(out, objectRef{field: k.Str, id: item.Str})
				}
				for _, id := range item.Array() {
					if id.Type == gjson.String && item.IsArray() {
						out = append(out, objectRef{field: k.Str, id: id.Str})
					}
				}
				return true
			}
			walk(item, depth+1)
			return true
		})
	}
	walk(gjson.ParseBytes(body), 0)
	return out
}

// spool keeps what the gateway read of a stream: the first spoolMemory
// bytes in memory, the rest in a temporary file, then gives it back once.
type spool struct {
	mem  []byte
	file *os.File
	size int64
	// read position, once reading began
	reading bool
	rd      io.Reader
	err     error
}

// spoolMemory is how much of a stream a spool holds in memory.
const spoolMemory = 256 << 10

func newSpool() *spool { return &spool{} }

// Write implements io.Writer.
func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.size += int64(len(p))
	if s.file == nil && len(s.mem)+len(p) <= spoolMemory {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "agentgate-upload-*")
		if err != nil {
			s.err = err
			return 0, err
		}
		s.file = f
	}
	if _, err := s.file.Write(p); err != nil {
		s.err = err
		return 0, err
	}
	return len(p), nil
}

// Read implements io.Reader: the spooled bytes, in order.
func (s *spool) Read(p []byte) (int, error) {
	if !s.reading {
		s.reading = true
		s.rd = bytes.NewReader(s.mem)
		if s.file != nil {
			if _, err := s.file.Seek(0, io.SeekStart); err != nil {
				return 0, err
			}
			s.rd = io.MultiReader(s.rd, s.file)
		}
	}
	return s.rd.Read(p)
}

func (s *spool) close() {
	if s.file != nil {
		name := s.file.Name()
		_ = s.file.Close()
		_ = os.Remove(name)
	}
}

// isJSON reports whether a Content-Type is JSON.
func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
