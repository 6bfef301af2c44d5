package fakeupstream

import (
	"fmt"
	"net/http"
	"strings"
)

// DefaultModels are what the fake lists when OpenAI.Models is nil.
var DefaultModels = []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "omni-moderation-latest",
	"gpt-3.5-turbo-instruct", "dall-e-3", "whisper-1", "tts-1"}

// apiRoutes registers the OpenAI endpoints beyond chat and embeddings.
func (o *OpenAI) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/models", o.listModels)
}

// ModelCreated is the created time the fake gives every model.
const ModelCreated = 1715367049

func (o *OpenAI) listModels(w http.ResponseWriter, r *http.Request) {
	models := o.Models
	if models == nil {
		models = DefaultModels
	}
	var b strings.Builder
	b.WriteString(`{"object":"list","data":[`)
	for i, m := range models {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q,"object":"model","created":%d,"owned_by":"system"}`, m, ModelCreated)
	}
	b.WriteString("]}")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(b.String()))
}
