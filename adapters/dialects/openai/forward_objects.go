package openai

import (
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

// pathIDs returns the object ids in a path below /v1/ ("files/file-abc/
// content" → file-abc). OpenAI's paths alternate words (files, batches,
// vector_stores, jobs, content, cancel…), which are lowercase letters and
// underscores, with ids, which never are (file-…, batch_6a…, vs_…,
// ft:gpt-4o:…): a segment after the first that holds anything else is an
// id.
func pathIDs(path string) []string {
	var ids []string
	for i, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		if i > 0 && seg != "" && !isWord(seg) {
			ids = append(ids, seg)
		}
	}
	return ids
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// modellessForms are the collections whose multipart forms name no model
// (uploads of files): their bodies stream untouched.
var modellessForms = map[string]bool{"files": true, "uploads": true, "containers": true}

// ephemeral are the object types of answers that make nothing the
// upstream keeps: their ids are not recorded.
var ephemeral = map[string]bool{
	"list": true, "text_completion": true, "chat.completion": true, "embedding": true,
	"response": true, "moderation": true, "audio.transcription": true,
}

// madeIDs returns the ids of upstream objects an answer shows: the
// object's own id (unless it is ephemeral or was deleted), the items of a
// list, and the objects it made on the way (a batch's output and error
// files, a fine-tuning job's model and result files, an upload's file).
// deleted is the id an answer reports deleted.
func madeIDs(body []byte) (ids []string, deleted string) {
	root := gjson.ParseBytes(body)
	var add func(obj gjson.Result, top bool)
	add = func(obj gjson.Result, top bool) {
		if !obj.IsObject() {
			return
		}
		id, typ := obj.Get("id"), obj.Get("object").Str
		if obj.Get("deleted").Bool() {
			if top && id.Type == gjson.String {
				deleted = id.Str
			}
			return
		}
		if id.Type == gjson.String && id.Str != "" && typ != "" && !ephemeral[typ] {
			ids = append(ids, id.Str)
		}
		for _, f := range [...]string{"output_file_id", "error_file_id", "fine_tuned_model"} {
			if v := obj.Get(f); v.Type == gjson.String && v.Str != "" {
				ids = append(ids, v.Str)
			}
		}
		for _, v := range obj.Get("result_files").Array() {
			if v.Type == gjson.String && v.Str != "" {
				ids = append(ids, v.Str)
			}
		}
		if f := obj.Get("file"); f.IsObject() {
			add(f, false)
		}
	}
	if root.Get("object").Str == "list" {
		for _, item := range root.Get("data").Array() {
			add(item, false)
		}
		return ids, ""
	}
	add(root, true)
	return ids, deleted
}

// objectNotFound is the 404 of an object the tenant does not own, as
// OpenAI words it; param names the body field that named it, if one did.
func objectNotFound(id, param string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "object_not_found", Param: param,
		Message: "No such object: '" + clip(id) + "'"}
}

// invalidURL is OpenAI's answer to a path it does not serve.
func invalidURL(method, path string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "unknown_url",
		Message: "Invalid URL (" + method + " " + clip(path) + ")"}
}

// clip bounds client text quoted in an error message.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}
