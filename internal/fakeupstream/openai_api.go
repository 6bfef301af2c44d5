package fakeupstream

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// DefaultModels are what the fake lists when OpenAI.Models is nil.
var DefaultModels = []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "omni-moderation-latest",
	"gpt-3.5-turbo-instruct", "dall-e-3", "whisper-1", "tts-1"}

// ModelCreated is the created time the fake gives every model.
const ModelCreated = 1715367049

// APIRequest is a request to one of the endpoints beyond chat and
// embeddings, as the fake received it.
type APIRequest struct {
	Method, Path, Query string
	Header              http.Header
	// Body is a JSON body; Fields the fields of a multipart form, in the
	// order sent, with each file as "<name>=@<filename>".
	Body   []byte
	Fields []string
	// FileBytes and FileSHA256 describe the form's file, if any.
	FileBytes  int64
	FileSHA256 string
}

// apiStore is the objects the fake keeps: files, batches, uploads and
// vector stores, by id, with their creation order.
type apiStore struct {
	objects map[string]map[string]any
	content map[string][]byte
	order   []string
	seq     int
}

// apiRoutes registers the OpenAI endpoints beyond chat and embeddings.
func (o *OpenAI) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/models", o.listModels)
	mux.HandleFunc("POST /v1/completions", o.completions)
	mux.HandleFunc("POST /v1/moderations", o.moderations)
	mux.HandleFunc("POST /v1/images/generations", o.images)
	mux.HandleFunc("POST /v1/audio/transcriptions", o.transcriptions)
	mux.HandleFunc("POST /v1/audio/speech", o.speech)
	mux.HandleFunc("POST /v1/files", o.createFile)
	mux.HandleFunc("GET /v1/files", o.list("file"))
	mux.HandleFunc("GET /v1/files/{id}", o.get("file"))
	mux.HandleFunc("GET /v1/files/{id}/content", o.fileContent)
	mux.HandleFunc("DELETE /v1/files/{id}", o.deleteObject("file"))
	mux.HandleFunc("POST /v1/batches", o.createBatch)
	mux.HandleFunc("GET /v1/batches", o.list("batch"))
	mux.HandleFunc("GET /v1/batches/{id}", o.getBatch)
	mux.HandleFunc("POST /v1/uploads", o.createUpload)
	mux.HandleFunc("POST /v1/uploads/{id}/parts", o.uploadPart)
	mux.HandleFunc("POST /v1/uploads/{id}/complete", o.completeUpload)
	mux.HandleFunc("POST /v1/vector_stores", o.createVectorStore)
	mux.HandleFunc("GET /v1/vector_stores", o.list("vector_store"))
	mux.HandleFunc("GET /v1/vector_stores/{id}", o.get("vector_store"))
	mux.HandleFunc("POST /v1/vector_stores/{id}/files", o.attachFile)
}

// APIRequests returns the requests the endpoints beyond chat and
// embeddings received.
func (o *OpenAI) APIRequests() []APIRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]APIRequest(nil), o.apiRequests...)
}

// LastAPIRequest returns the last of them.
func (o *OpenAI) LastAPIRequest() APIRequest {
	r := o.APIRequests()
	if len(r) == 0 {
		return APIRequest{}
	}
	return r[len(r)-1]
}

// record reads r's body (JSON, or a form whose file is hashed as it
// streams, never held) and keeps the request.
func (o *OpenAI) record(r *http.Request) (APIRequest, error) {
	rec := APIRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return rec, err
			}
			if part.FileName() != "" {
				h := sha256.New()
				n, err := io.Copy(h, part)
				if err != nil {
					return rec, err
				}
				rec.FileBytes, rec.FileSHA256 = n, hex.EncodeToString(h.Sum(nil))
				rec.Fields = append(rec.Fields, part.FormName()+"=@"+part.FileName())
				continue
			}
			v, _ := io.ReadAll(io.LimitReader(part, 1<<20))
			rec.Fields = append(rec.Fields, part.FormName()+"="+string(v))
		}
	} else {
		rec.Body, _ = io.ReadAll(r.Body)
	}
	o.mu.Lock()
	o.apiRequests = append(o.apiRequests, rec)
	o.mu.Unlock()
	return rec, nil
}

// Field returns the value of a recorded form field.
func (r APIRequest) Field(name string) string {
	for _, f := range r.Fields {
		if k, v, _ := strings.Cut(f, "="); k == name {
			return v
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, kind, id string) {
	writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
		"message": "No such " + kind + " object: " + id, "type": "invalid_request_error", "param": "id", "code": nil}})
}

func (o *OpenAI) listModels(w http.ResponseWriter, r *http.Request) {
	models := o.Models
	if models == nil {
		models = DefaultModels
	}
	data := make([]any, len(models))
	for i, m := range models {
		data[i] = map[string]any{"id": m, "object": "model", "created": ModelCreated, "owned_by": "system"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// completions answers a legacy completion: the prompt's words echoed,
// streamed (with a usage chunk when asked) or not.
func (o *OpenAI) completions(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	req := gjson.ParseBytes(rec.Body)
	text := "Completed: " + req.Get("prompt").String()
	usage := map[string]int{"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
	model := req.Get("model").String()
	if !req.Get("stream").Bool() {
		writeJSON(w, http.StatusOK, map[string]any{"id": "cmpl-fake1", "object": "text_completion", "created": 1730000000,
			"model": model, "choices": []any{map[string]any{"text": text, "index": 0, "logprobs": nil, "finish_reason": "stop"}},
			"usage": usage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for _, word := range strings.SplitAfter(text, " ") {
		b, _ := json.Marshal(map[string]any{"id": "cmpl-fake1", "object": "text_completion", "created": 1730000000, "model": model,
			"choices": []any{map[string]any{"text": word, "index": 0, "logprobs": nil, "finish_reason": nil}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	if req.Get("stream_options.include_usage").Bool() {
		b, _ := json.Marshal(map[string]any{"id": "cmpl-fake1", "object": "text_completion", "created": 1730000000, "model": model,
			"choices": []any{}, "usage": usage})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func (o *OpenAI) moderations(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	req := gjson.ParseBytes(rec.Body)
	model := req.Get("model").String()
	if model == "" {
		model = "omni-moderation-latest"
	}
	flagged := strings.Contains(req.Get("input").String(), "hate")
	writeJSON(w, http.StatusOK, map[string]any{"id": "modr-fake1", "model": model, "results": []any{map[string]any{
		"flagged": flagged, "categories": map[string]bool{"hate": flagged}, "category_scores": map[string]float64{"hate": 0.5}}}})
}

// FakePNG is the image the fake generates, base64.
const FakePNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAAEElEQVR4nGI6IScHCAAA//8CvgEHAOBnOAAAAABJRU5ErkJggg=="

func (o *OpenAI) images(w http.ResponseWriter, r *http.Request) {
	if _, err := o.record(r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"created": 1730000000, "data": []any{map[string]any{"b64_json": FakePNG}},
		"usage": map[string]any{"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}})
}

func (o *OpenAI) transcriptions(w http.ResponseWriter, r *http.Request) {
	rec, err := o.record(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"text": fmt.Sprintf("transcribed %d bytes with %s", rec.FileBytes, rec.Field("model")),
		"usage": map[string]any{"type": "tokens", "input_tokens": 5, "output_tokens": 3, "total_tokens": 8}})
}

// SpeechBytes is the audio the fake speaks for input: deterministic bytes,
// sent in several chunks.
func SpeechBytes(input string) []byte {
	out := []byte("ID3fake-mp3:")
	for i := 0; i < 4096; i++ {
		out = append(out, byte(i+len(input)))
	}
	return out
}

func (o *OpenAI) speech(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	audio := SpeechBytes(gjson.GetBytes(rec.Body, "input").String())
	w.Header().Set("Content-Type", "audio/mpeg")
	rc := http.NewResponseController(w)
	for len(audio) > 0 {
		n := min(1024, len(audio))
		_, _ = w.Write(audio[:n])
		_ = rc.Flush()
		audio = audio[n:]
	}
}

// newObject stores obj under a new id of prefix, with its type and
// creation time.
func (o *OpenAI) newObject(prefix, typ string, obj map[string]any) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store.objects == nil {
		o.store.objects, o.store.content = map[string]map[string]any{}, map[string][]byte{}
	}
	o.store.seq++
	id := fmt.Sprintf("%s%d", prefix, o.store.seq)
	obj["id"], obj["object"], obj["created_at"] = id, typ, 1730000000+o.store.seq
	o.store.objects[id] = obj
	o.store.order = append(o.store.order, id)
	return obj
}

func (o *OpenAI) object(typ, id string) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	if obj, ok := o.store.objects[id]; ok && obj["object"] == typ {
		return obj
	}
	return nil
}

func (o *OpenAI) createFile(w http.ResponseWriter, r *http.Request) {
	rec, err := o.record(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := ""
	for _, f := range rec.Fields {
		if strings.HasPrefix(f, "file=@") {
			name = strings.TrimPrefix(f, "file=@")
		}
	}
	obj := o.newObject("file-", "file", map[string]any{"bytes": rec.FileBytes, "filename": name, "purpose": rec.Field("purpose")})
	writeJSON(w, http.StatusOK, obj)
}

// list answers a list of typ, oldest first, with OpenAI's cursor
// pagination (after, limit; default 20).
func (o *OpenAI) list(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = o.record(r)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 20
		}
		after := r.URL.Query().Get("after")
		o.mu.Lock()
		var all []map[string]any
		for _, id := range o.store.order {
			if obj := o.store.objects[id]; obj != nil && obj["object"] == typ {
				all = append(all, obj)
			}
		}
		o.mu.Unlock()
		if after != "" {
			i := len(all)
			for j, obj := range all {
				if obj["id"] == after {
					i = j + 1
				}
			}
			all = all[min(i, len(all)):]
		}
		hasMore := len(all) > limit
		if hasMore {
			all = all[:limit]
		}
		resp := map[string]any{"object": "list", "data": all, "has_more": hasMore, "first_id": nil, "last_id": nil}
		if len(all) > 0 {
			resp["first_id"], resp["last_id"] = all[0]["id"], all[len(all)-1]["id"]
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func (o *OpenAI) get(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = o.record(r)
		obj := o.object(typ, r.PathValue("id"))
		if obj == nil {
			notFound(w, typ, r.PathValue("id"))
			return
		}
		writeJSON(w, http.StatusOK, obj)
	}
}

func (o *OpenAI) deleteObject(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = o.record(r)
		id := r.PathValue("id")
		if o.object(typ, id) == nil {
			notFound(w, typ, id)
			return
		}
		o.mu.Lock()
		delete(o.store.objects, id)
		o.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": typ, "deleted": true})
	}
}

func (o *OpenAI) fileContent(w http.ResponseWriter, r *http.Request) {
	_, _ = o.record(r)
	id := r.PathValue("id")
	if o.object("file", id) == nil {
		notFound(w, "file", id)
		return
	}
	o.mu.Lock()
	content := o.store.content[id]
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(content)
}

func (o *OpenAI) createBatch(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	req := gjson.ParseBytes(rec.Body)
	if o.object("file", req.Get("input_file_id").Str) == nil {
		notFound(w, "file", req.Get("input_file_id").Str)
		return
	}
	obj := o.newObject("batch_", "batch", map[string]any{"endpoint": req.Get("endpoint").Str, "input_file_id": req.Get("input_file_id").Str,
		"completion_window": req.Get("completion_window").Str, "status": "validating", "output_file_id": nil, "error_file_id": nil})
	writeJSON(w, http.StatusOK, obj)
}

// getBatch completes a batch the first time it is fetched, making its
// output file.
func (o *OpenAI) getBatch(w http.ResponseWriter, r *http.Request) {
	_, _ = o.record(r)
	obj := o.object("batch", r.PathValue("id"))
	if obj == nil {
		notFound(w, "batch", r.PathValue("id"))
		return
	}
	if obj["status"] != "completed" {
		out := o.newObject("file-", "file", map[string]any{"bytes": 2, "filename": "batch_output.jsonl", "purpose": "batch_output"})
		o.mu.Lock()
		o.store.content[out["id"].(string)] = []byte("{}")
		obj["status"], obj["output_file_id"] = "completed", out["id"]
		o.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, obj)
}

func (o *OpenAI) createUpload(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	req := gjson.ParseBytes(rec.Body)
	obj := o.newObject("upload_", "upload", map[string]any{"filename": req.Get("filename").Str, "purpose": req.Get("purpose").Str,
		"bytes": req.Get("bytes").Int(), "status": "pending", "file": nil})
	writeJSON(w, http.StatusOK, obj)
}

func (o *OpenAI) uploadPart(w http.ResponseWriter, r *http.Request) {
	rec, err := o.record(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if o.object("upload", r.PathValue("id")) == nil {
		notFound(w, "upload", r.PathValue("id"))
		return
	}
	obj := o.newObject("part_", "upload.part", map[string]any{"upload_id": r.PathValue("id"), "bytes": rec.FileBytes})
	writeJSON(w, http.StatusOK, obj)
}

func (o *OpenAI) completeUpload(w http.ResponseWriter, r *http.Request) {
	_, _ = o.record(r)
	up := o.object("upload", r.PathValue("id"))
	if up == nil {
		notFound(w, "upload", r.PathValue("id"))
		return
	}
	file := o.newObject("file-", "file", map[string]any{"bytes": up["bytes"], "filename": up["filename"], "purpose": up["purpose"]})
	o.mu.Lock()
	up["status"], up["file"] = "completed", file
	o.mu.Unlock()
	writeJSON(w, http.StatusOK, up)
}

func (o *OpenAI) createVectorStore(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	req := gjson.ParseBytes(rec.Body)
	obj := o.newObject("vs_", "vector_store", map[string]any{"name": req.Get("name").Str, "status": "completed",
		"file_counts": map[string]int{"completed": len(req.Get("file_ids").Array())}})
	writeJSON(w, http.StatusOK, obj)
}

func (o *OpenAI) attachFile(w http.ResponseWriter, r *http.Request) {
	rec, _ := o.record(r)
	vs, file := r.PathValue("id"), gjson.GetBytes(rec.Body, "file_id").Str
	if o.object("vector_store", vs) == nil || o.object("file", file) == nil {
		notFound(w, "vector_store.file", file)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": file, "object": "vector_store.file", "vector_store_id": vs,
		"status": "completed", "created_at": 1730000000})
}
