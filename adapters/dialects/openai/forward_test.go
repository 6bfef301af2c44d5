package openai

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

func TestPathIDs(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"files", nil},
		{"files/file-abc123", []string{"file-abc123"}},
		{"files/file-abc123/content", []string{"file-abc123"}},
		{"images/generations", nil},
		{"audio/transcriptions", nil},
		{"vector_stores/vs_1/file_batches/vsfb_2/files", []string{"vs_1", "vsfb_2"}},
		{"fine_tuning/jobs/ftjob-abc/events", []string{"ftjob-abc"}},
		{"models/ft:gpt-4o-mini:org::x1", []string{"ft:gpt-4o-mini:org::x1"}},
		{"batches/batch_67AB/cancel", []string{"batch_67AB"}},
		{"uploads/upload_9/parts/", []string{"upload_9"}},
		{"vs_lonely", nil}, // the first segment is a collection
	} {
		if got := pathIDs(tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("pathIDs(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestJSONRefs(t *testing.T) {
	got := jsonRefs([]byte(`{"input_file_id":"file-1","file_ids":["file-2","file-3",7],"tools":[{"type":"file_search","vector_store_ids":["vs_1"]}],
		"nested":{"deep":{"training_file":"file-4"}},"file_id":{"not":"a string"},"name":"file-5"}`))
	want := []objectRef{{"input_file_id", "file-1"}, {"file_ids", "file-2"}, {"file_ids", "file-3"},
		{"vector_store_ids", "vs_1"}, {"training_file", "file-4"}}
	if !slices.Equal(got, want) {
		t.Errorf("jsonRefs = %v, want %v", got, want)
	}
}

func TestMadeIDs(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ids        []string
		deleted    string
	}{
		{"file", `{"id":"file-1","object":"file","bytes":3}`, []string{"file-1"}, ""},
		{"completed batch", `{"id":"batch_1","object":"batch","output_file_id":"file-o","error_file_id":null}`, []string{"batch_1", "file-o"}, ""},
		{"fine-tuning job", `{"id":"ftjob-1","object":"fine_tuning.job","fine_tuned_model":"ft:x:y","result_files":["file-r"]}`,
			[]string{"ftjob-1", "ft:x:y", "file-r"}, ""},
		{"completed upload", `{"id":"upload_1","object":"upload","file":{"id":"file-u","object":"file"}}`, []string{"upload_1", "file-u"}, ""},
		{"list under an object", `{"object":"list","data":[{"id":"file-1","object":"vector_store.file"}]}`, []string{"file-1"}, ""},
		{"deleted", `{"id":"file-1","object":"file","deleted":true}`, nil, "file-1"},
		{"completion", `{"id":"cmpl-1","object":"text_completion","choices":[]}`, nil, ""},
		{"moderation", `{"id":"modr-1","model":"m","results":[]}`, nil, ""},
	} {
		ids, deleted := madeIDs([]byte(tc.body))
		if !slices.Equal(ids, tc.ids) || deleted != tc.deleted {
			t.Errorf("%s: %v %q, want %v %q", tc.name, ids, deleted, tc.ids, tc.deleted)
		}
	}
}

// form builds a multipart body of fields ("name=value", "name=@file")
// with files of size bytes.
func form(fields []string, size int) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		if name, ok := strings.CutPrefix(v, "@"); ok {
			w, _ := mw.CreateFormFile(k, name)
			_, _ = w.Write(bytes.Repeat([]byte{'z'}, size))
			continue
		}
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func upstreamBody(t *testing.T, fb *forwardBody) []byte {
	t.Helper()
	b, err := io.ReadAll(fb.reader())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForwardBodyGolden: what goes upstream when the model is rewritten
// (an alias, a stripped prefix), in a JSON body and in a form whose file
// comes before the model.
func TestForwardBodyGolden(t *testing.T) {
	ct, multi := form([]string{"file=@a.wav", "model=openai/whisper-1", "language=en"}, 16)
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"json_alias", "application/json", []byte(`{"model":"fast","prompt":"hi","max_tokens":5}`)},
		{"multipart_prefix", ct, multi},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/x", bytes.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.contentType)
			fb, err := readForwardBody(r, 1<<20, false)
			if err != nil {
				t.Fatal(err)
			}
			defer fb.close()
			if err := fb.withModel("upstream-model"); err != nil {
				t.Fatal(err)
			}
			got := bytes.ReplaceAll(upstreamBody(t, fb), []byte("\r\n"), []byte("\n"))
			got = bytes.ReplaceAll(got, []byte(strings.TrimPrefix(tc.contentType, "multipart/form-data; boundary=")), []byte("BOUNDARY"))
			dialecttest.Golden(t, filepath.Join("testdata", "forward", tc.name+".golden"), got)
		})
	}
}

// TestForwardBodyPeek: the model is found wherever it sits in a form,
// and what goes upstream is the body exactly as sent, whether the parts
// before the model stayed in memory or were spooled to disk.
func TestForwardBodyPeek(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fields    []string
		size      int
		modelless bool
		want      string
	}{
		{"model first", []string{"model=whisper-1", "file=@a.wav"}, 1 << 20, false, "whisper-1"},
		{"model after a spooled file", []string{"file=@a.wav", "model=whisper-1"}, 1 << 20, false, "whisper-1"},
		{"no model", []string{"purpose=batch", "file=@a.jsonl"}, 10, false, ""},
		{"file uploads are not read", []string{"file=@a.jsonl", "model=m"}, 10, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := form(tc.fields, tc.size)
			r := httptest.NewRequest("POST", "/v1/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", ct)
			fb, err := readForwardBody(r, 1<<20, tc.modelless)
			if err != nil {
				t.Fatal(err)
			}
			defer fb.close()
			if fb.model != tc.want {
				t.Errorf("model %q, want %q", fb.model, tc.want)
			}
			if got := upstreamBody(t, fb); !bytes.Equal(got, body) {
				t.Errorf("upstream body differs from the client's (%d vs %d bytes)", len(got), len(body))
			}
			if tc.size > spoolMemory && fb.spool != nil && fb.spool.file == nil && tc.want != "" && tc.fields[0] != "model=whisper-1" {
				t.Error("a file before the model was held in memory, not spooled")
			}
		})
	}
}

func TestForwardBodyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, param string
		status                         int
	}{
		{"bad JSON", "application/json", `{"model":`, "body", 400},
		{"model not a string", "application/json", `{"model":["a"]}`, "model", 400},
		{"too large", "application/json", `{"model":"` + strings.Repeat("x", 2000) + `"}`, "", 413},
		{"broken form", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "body", 400},
	} {
		r := httptest.NewRequest("POST", "/v1/x", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.contentType)
		_, err := readForwardBody(r, 1024, false)
		var e *adapters.Error
		if !errors.As(err, &e) || e.Status() != tc.status || e.Param != tc.param {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// FuzzForwardBody: no client body panics the passthrough's reader, every
// rejection is a 4xx naming what is wrong, and a body it accepts goes
// upstream byte for byte as it came.
func FuzzForwardBody(f *testing.F) {
	ct, body := form([]string{"file=@a.wav", "model=m"}, 100)
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add("multipart/form-data; boundary="+boundary, body)
	f.Add("multipart/form-data; boundary=XX", []byte("--XX\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n--XX--\r\n"))
	f.Add("application/json", []byte(`{"model":"m","file_ids":["a",{"file_id":"b"}]}`))
	f.Add("", []byte(`[]`))
	f.Add("text/plain", []byte("anything"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		fb, err := readForwardBody(r, 1<<16, false)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || e.Status() < 400 || e.Status() >= 500 || e.Message == "" {
				t.Fatalf("bad rejection %T %v", err, err)
			}
			return
		}
		defer fb.close()
		got, err := io.ReadAll(fb.reader())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("upstream body %q differs from %q", got, body)
		}
		if fb.boundary != "" {
			// Rewriting the model never fails on a form the peek accepted
			// before its end, and never panics.
			_ = fb.withModel("other")
			_, _ = io.Copy(io.Discard, fb.reader())
		}
	})
}

// TestAskStreamUsage: a streamed completions body goes upstream asking
// for its usage in one include_usage every upstream reads as true, the
// rest of its bytes as they came; strip tells the client did not ask. A
// body an upstream might read as a stream the gateway did not see is a
// 400 naming the field.
func TestAskStreamUsage(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		streamed, strip  bool
		param            string // of the 400, if any
	}{
		{"not streamed", `{"model":"m","prompt":"x"}`, `{"model":"m","prompt":"x"}`, false, false, ""},
		{"stream false", `{"model":"m","stream":false,"stream_options":null}`, `{"model":"m","stream":false,"stream_options":null}`, false, false, ""},
		{"stream null", `{"model":"m","stream":null}`, `{"model":"m","stream":null}`, false, false, ""},
		{"no options", `{"model":"m", "stream" : true }`, `{"model":"m", "stream" : true ,"stream_options":{"include_usage":true}}`, true, true, ""},
		{"options null", `{"stream":true,"stream_options":null,"prompt":"x"}`, `{"stream":true,"stream_options":{"include_usage":true},"prompt":"x"}`, true, true, ""},
		{"usage false", `{"stream":true,"stream_options":{"include_usage":false}}`, `{"stream":true,"stream_options":{"include_usage":true}}`, true, true, ""},
		{"usage null, other options kept", `{"stream":true,"stream_options":{"a":[1, 2],"include_usage":null}}`, `{"stream":true,"stream_options":{"include_usage":true,"a":[1, 2]}}`, true, true, ""},
		{"usage twice", `{"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}`, `{"stream":true,"stream_options":{"include_usage":true}}`, true, true, ""},
		{"usage in another case", `{"stream":true,"stream_options":{"Include_usage":true}}`, `{"stream":true,"stream_options":{"include_usage":true}}`, true, true, ""},
		{"usage asked", `{"stream":true,"stream_options":{ "include_usage" : true }}`, `{"stream":true,"stream_options":{ "include_usage" : true }}`, true, false, ""},
		{"escaped key", `{"str\u0065am":true}`, `{"str\u0065am":true,"stream_options":{"include_usage":true}}`, true, true, ""},
		{"an array", `[{"stream":true}]`, `[{"stream":true}]`, false, false, ""},
		{"stream twice", `{"stream":false,"stream":true}`, "", false, false, "stream"},
		{"stream in another case", `{"stream":false,"Stream":true}`, "", false, false, "stream"},
		{"stream a string", `{"stream":"true"}`, "", false, false, "stream"},
		{"stream a number", `{"stream":1}`, "", false, false, "stream"},
		{"options twice", `{"stream":true,"stream_options":{"include_usage":true},"stream_options":{}}`, "", false, false, "stream_options"},
		{"options a string", `{"stream":true,"stream_options":"usage"}`, "", false, false, "stream_options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := &forwardBody{json: []byte(tc.body), length: int64(len(tc.body))}
			streamed, strip, err := fb.askStreamUsage()
			if tc.param != "" {
				var e *adapters.Error
				if !errors.As(err, &e) || e.Status() != 400 || e.Param != tc.param {
					t.Fatalf("error %v, want a 400 naming %s", err, tc.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if streamed != tc.streamed || strip != tc.strip {
				t.Errorf("streamed %v strip %v, want %v %v", streamed, strip, tc.streamed, tc.strip)
			}
			if got := string(upstreamBody(t, fb)); got != tc.want || fb.length != int64(len(got)) {
				t.Errorf("upstream body %s (length %d)\nwant %s", got, fb.length, tc.want)
			}
		})
	}
}

// FuzzAskStreamUsage: whatever JSON body a client sends, asking for
// stream usage never panics, refuses only with a 400, and a streamed
// body leaves valid JSON whose one include_usage (in any case) is true.
func FuzzAskStreamUsage(f *testing.F) {
	f.Add([]byte(`{"stream":true,"stream_options":{"include_usage":false,"x":{}}}`))
	f.Add([]byte(`{"stream":true}`))
	f.Add([]byte(` { "stream" : true , "stream_options" : null } `))
	f.Add([]byte(`{"stream":true,"stream_options":{"INCLUDE_USAGE":1,"include_usage":true}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !validjson.Bytes(body) {
			return
		}
		fb := &forwardBody{json: body}
		streamed, _, err := fb.askStreamUsage()
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || e.Status() != 400 || e.Param == "" {
				t.Fatalf("bad rejection %v", err)
			}
			return
		}
		if !streamed {
			if !bytes.Equal(fb.json, body) {
				t.Fatalf("an unstreamed body was rewritten: %s", fb.json)
			}
			return
		}
		if !validjson.Bytes(fb.json) {
			t.Fatalf("invalid JSON upstream: %s", fb.json)
		}
		n := 0
		gjson.GetBytes(fb.json, "stream_options").ForEach(func(k, v gjson.Result) bool {
			if strings.EqualFold(k.Str, "include_usage") {
				n++
				if k.Str != "include_usage" || v.Type != gjson.True {
					n = 2
				}
			}
			return true
		})
		if n != 1 {
			t.Fatalf("stream usage not asked once, as true: %s", fb.json)
		}
	})
}
