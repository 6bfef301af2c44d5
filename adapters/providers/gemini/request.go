package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"path"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"
)

// Thinking budgets for each reasoning effort, in tokens.
var effortBudgets = map[string]int32{
	"none":    0,
	"minimal": 512,
	"low":     1024,
	"medium":  8192,
	"high":    24576,
	"xhigh":   32768,
}

// skipSignature is the value Google documents for function calls that have
// no thought signature of their own (made by another model, or injected):
// Gemini 3 rejects an unsigned call in the history otherwise.
const skipSignature = "skip_thought_signature_validator"

// buildRequest translates req into the contents and config the SDK sends.
// Every problem with the request is an invalid-request *adapters.Error
// naming the field at fault.
func buildRequest(req *adapters.Request) ([]*genai.Content, *genai.GenerateContentConfig, error) {
	config := &genai.GenerateContentConfig{
		// Continuing a stopped answer with new requests is the gateway's
		// business (it would be billed and invisible in the usage log).
		AutomaticContinuation: genai.Ptr(false),
	}
	var system []*genai.Part
	if req.System != "" {
		system = append(system, &genai.Part{Text: req.System})
	}
	contents := make([]*genai.Content, 0, len(req.Messages))
	// callNames maps the ids of the tool calls seen so far to their names:
	// Gemini names a function response after its call.
	callNames := map[string]string{}
	toolTurn := false // the last content holds function responses
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case adapters.RoleSystem:
			if t := m.Text(); t != "" {
				system = append(system, &genai.Part{Text: t})
			}
			continue
		case adapters.RoleUser:
			parts, err := userParts(m.Parts)
			if err != nil {
				return nil, nil, err
			}
			if len(parts) > 0 {
				contents = append(contents, &genai.Content{Role: genai.RoleUser, Parts: parts})
				toolTurn = false
			}
		case adapters.RoleAssistant:
			parts, err := modelParts(m, req.Model)
			if err != nil {
				return nil, nil, err
			}
			for _, tc := range m.ToolCalls {
				callNames[tc.ID] = tc.Name
			}
			if len(parts) > 0 {
				contents = append(contents, &genai.Content{Role: genai.RoleModel, Parts: parts})
				toolTurn = false
			}
		case adapters.RoleTool:
			name := callNames[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				return nil, nil, adapters.BadField("messages", "tool result %q answers no earlier tool call", m.ToolCallID)
			}
			part := &genai.Part{FunctionResponse: &genai.FunctionResponse{
				ID:       upstreamID(m.ToolCallID),
				Name:     name,
				Response: toolResponse(m.Text()),
			}}
			// The results of parallel calls go back together, in one turn.
			if toolTurn {
				last := contents[len(contents)-1]
				last.Parts = append(last.Parts, part)
			} else {
				contents = append(contents, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{part}})
				toolTurn = true
			}
		default:
			return nil, nil, adapters.BadField("messages", "unsupported role %q", m.Role)
		}
	}
	if len(contents) == 0 {
		return nil, nil, adapters.BadField("messages", "at least one user or assistant message is required")
	}
	if len(system) > 0 {
		config.SystemInstruction = &genai.Content{Parts: system}
	}
	if err := applyTools(config, req); err != nil {
		return nil, nil, err
	}
	if err := applySampling(config, &req.Sampling); err != nil {
		return nil, nil, err
	}
	if r := req.Reasoning; r != nil {
		tc := &genai.ThinkingConfig{IncludeThoughts: true}
		switch {
		case r.BudgetTokens < 0:
			return nil, nil, adapters.BadField("budget_tokens", "must not be negative")
		case r.BudgetTokens > 0:
			tc.ThinkingBudget = genai.Ptr(int32(min(r.BudgetTokens, math.MaxInt32)))
		case r.Effort != "":
			b, ok := effortBudgets[r.Effort]
			if !ok {
				return nil, nil, adapters.BadField("reasoning_effort", "unsupported effort %q", r.Effort)
			}
			tc.ThinkingBudget = genai.Ptr(b)
			if b == 0 {
				tc.IncludeThoughts = false
			}
		}
		config.ThinkingConfig = tc
	}
	return contents, config, nil
}

// userParts translates the text, image and document parts of a user
// message. Empty
// text parts are left out: Gemini rejects a part with no data.
func userParts(in []adapters.Part) ([]*genai.Part, error) {
	parts := make([]*genai.Part, 0, len(in))
	for i := range in {
		p := &in[i]
		if p.Type == adapters.PartImage {
			part, err := imagePart(p.ImageURL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
			continue
		}
		if p.Type == adapters.PartDocument {
			part, err := documentPart(p)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
			continue
		}
		if p.Text != "" {
			parts = append(parts, &genai.Part{Text: p.Text})
		}
	}
	return parts, nil
}

// imagePart makes inline data of a data: URL and file data of an http(s)
// or gs:// URL.
func imagePart(raw string) (*genai.Part, error) {
	u := strings.TrimSpace(raw)
	if len(u) >= 5 && strings.EqualFold(u[:5], "data:") {
		meta, data, ok := strings.Cut(u[5:], ",")
		if !ok {
			return nil, adapters.BadField("messages", "malformed data: URL in an image part")
		}
		mime, params, _ := strings.Cut(meta, ";")
		mime = strings.ToLower(strings.TrimSpace(mime))
		if mime == "" {
			return nil, adapters.BadField("messages", "the data: URL of an image part has no media type")
		}
		var b []byte
		var err error
		if strings.Contains(strings.ToLower(params), "base64") {
			b, err = decodeBase64(data)
		} else {
			var s string
			s, err = url.PathUnescape(data)
			b = []byte(s)
		}
		if err != nil || len(b) == 0 {
			return nil, adapters.BadField("messages", "the data: URL of an image part does not decode")
		}
		return &genai.Part{InlineData: &genai.Blob{MIMEType: mime, Data: b}}, nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http" && pu.Scheme != "gs") {
		return nil, adapters.BadField("messages", "an image URL must be a data: URL or an http(s) URL")
	}
	return &genai.Part{FileData: &genai.FileData{FileURI: u, MIMEType: guessMIME(pu.Path)}}, nil
}

// documentPart makes inline data of a base64 PDF, file data of a PDF URL
// and a text part of a plain-text document (titled, when it has a title).
func documentPart(p *adapters.Part) (*genai.Part, error) {
	switch {
	case p.URL != "":
		if pu, err := url.Parse(p.URL); err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
			return nil, adapters.BadField("messages", "a document URL must be an http(s) URL")
		}
		return &genai.Part{FileData: &genai.FileData{FileURI: p.URL, MIMEType: p.MediaType}}, nil
	case p.MediaType == "text/plain" || p.Data == "":
		text := p.Text
		if p.Title != "" {
			text = p.Title + "\n\n" + text
		}
		return &genai.Part{Text: text}, nil
	}
	b, err := decodeBase64(p.Data)
	if err != nil || len(b) == 0 {
		return nil, adapters.BadField("messages", "the data of a document part is not base64")
	}
	return &genai.Part{InlineData: &genai.Blob{MIMEType: p.MediaType, Data: b}}, nil
}

var extMIME = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".heic": "image/heic",
	".heif": "image/heif",
	".bmp":  "image/bmp",
	".pdf":  "application/pdf",
}

// guessMIME guesses an image's media type from its URL path; Gemini needs
// one for file data and most images without a known extension are JPEG.
func guessMIME(p string) string {
	if m, ok := extMIME[strings.ToLower(path.Ext(p))]; ok {
		return m
	}
	return "image/jpeg"
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	t := strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(t); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(t)
}

// modelParts translates an assistant message: its signed reasoning as a
// thought part, its text, then its tool calls with their signatures.
func modelParts(m *adapters.Message, model string) ([]*genai.Part, error) {
	parts := make([]*genai.Part, 0, 2+len(m.ToolCalls))
	var sig []byte
	if m.ReasoningSignature != "" {
		if b, err := decodeBase64(m.ReasoningSignature); err == nil && len(b) > 0 {
			sig = b
		}
	}
	// Unsigned reasoning is not sent back: Gemini cannot use it.
	if m.Reasoning != "" && sig != nil {
		parts = append(parts, &genai.Part{Text: m.Reasoning, Thought: true, ThoughtSignature: sig})
		sig = nil
	}
	if text := m.Text(); text != "" {
		parts = append(parts, &genai.Part{Text: text, ThoughtSignature: sig})
		sig = nil
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		if tc.Name == "" {
			return nil, adapters.BadField("messages", "tool call %q has no name", tc.ID)
		}
		part := &genai.Part{FunctionCall: &genai.FunctionCall{
			ID:   upstreamID(tc.ID),
			Name: tc.Name,
			Args: toolArgs(tc.Arguments),
		}}
		if tc.Signature != "" {
			if b, err := decodeBase64(tc.Signature); err == nil && len(b) > 0 {
				part.ThoughtSignature = b
			}
		}
		if j == 0 && part.ThoughtSignature == nil {
			switch {
			case sig != nil:
				part.ThoughtSignature, sig = sig, nil
			case needsSignature(model):
				part.ThoughtSignature = []byte(skipSignature)
			}
		}
		parts = append(parts, part)
	}
	return parts, nil
}

// needsSignature reports whether model validates the thought signature of
// the first function call of each turn (Gemini 3 and later).
func needsSignature(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	return strings.HasPrefix(m, "gemini-") && !strings.HasPrefix(m, "gemini-1") && !strings.HasPrefix(m, "gemini-2") &&
		!strings.HasPrefix(m, "gemini-pro") && !strings.HasPrefix(m, "gemini-exp")
}

// upstreamID is the id sent to Gemini for a tool call: Gemini's own ids go
// back as they came, but not the ones this provider made up ("call_…")
// nor other providers' ("call_…", "toolu_…"), which Gemini never issued.
func upstreamID(id string) string {
	if strings.HasPrefix(id, "call_") || strings.HasPrefix(id, "toolu_") {
		return ""
	}
	return id
}

// toolArgs decodes a call's arguments. Gemini needs an object: anything
// else (the model may have produced invalid JSON) is wrapped so the turn can
// still be replayed.
func toolArgs(s string) map[string]any {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if obj := jsonObject(s); obj != nil {
		return obj
	}
	return map[string]any{"arguments": s}
}

// toolResponse makes a function response of a tool result: the result
// itself when it is a JSON object, else {"result": <the value or text>}.
func toolResponse(s string) map[string]any {
	if obj := jsonObject(s); obj != nil {
		return obj
	}
	t := strings.TrimSpace(s)
	if t != "" && json.Valid([]byte(t)) {
		var v any
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			return map[string]any{"result": v}
		}
	}
	return map[string]any{"result": s}
}

// jsonObject decodes s when it is a JSON object, keeping numbers as
// written.
func jsonObject(s string) map[string]any {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{") || !json.Valid([]byte(t)) {
		return nil
	}
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil
	}
	return obj
}

// applyTools sets the function declarations and the function calling mode.
func applyTools(config *genai.GenerateContentConfig, req *adapters.Request) error {
	if len(req.Tools) == 0 {
		return nil
	}
	decls := make([]*genai.FunctionDeclaration, 0, len(req.Tools))
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Name == "" {
			return adapters.BadField("tools", "tool %d has no name", i)
		}
		d := &genai.FunctionDeclaration{Name: t.Name, Description: t.Description}
		if !isNullOrEmpty(t.Parameters) {
			if !json.Valid(t.Parameters) {
				return adapters.BadField("tools", "parameters of tool %q are not valid JSON", t.Name)
			}
			d.ParametersJsonSchema = json.RawMessage(t.Parameters)
		}
		decls = append(decls, d)
	}
	config.Tools = []*genai.Tool{{FunctionDeclarations: decls}}
	if isNullOrEmpty(req.ToolChoice) {
		return nil
	}
	if !json.Valid(req.ToolChoice) {
		return adapters.BadField("tool_choice", "not valid JSON")
	}
	fc := &genai.FunctionCallingConfig{}
	tc := gjson.ParseBytes(req.ToolChoice)
	kind := tc.String()
	if tc.IsObject() {
		kind = tc.Get("type").String()
	}
	switch kind {
	case "none":
		fc.Mode = genai.FunctionCallingConfigModeNone
	case "auto":
		fc.Mode = genai.FunctionCallingConfigModeAuto
	case "required", "any":
		fc.Mode = genai.FunctionCallingConfigModeAny
	case "function", "tool":
		if !tc.IsObject() {
			return adapters.BadField("tool_choice", "unsupported value %s", tc.Raw)
		}
		name := tc.Get("function.name").String()
		if name == "" {
			name = tc.Get("name").String()
		}
		if name == "" {
			return adapters.BadField("tool_choice", "names no function")
		}
		fc.Mode = genai.FunctionCallingConfigModeAny
		fc.AllowedFunctionNames = []string{name}
	default:
		return adapters.BadField("tool_choice", "unsupported value %s", tc.Raw)
	}
	config.ToolConfig = &genai.ToolConfig{FunctionCallingConfig: fc}
	return nil
}

// applySampling sets the generation parameters and the response format.
func applySampling(config *genai.GenerateContentConfig, s *adapters.Sampling) error {
	if s.Temperature != nil {
		if !wire.Finite(*s.Temperature) {
			return adapters.BadField("temperature", "must be a finite number")
		}
		config.Temperature = genai.Ptr(float32(*s.Temperature))
	}
	if s.TopP != nil {
		if !wire.Finite(*s.TopP) {
			return adapters.BadField("top_p", "must be a finite number")
		}
		config.TopP = genai.Ptr(float32(*s.TopP))
	}
	if s.TopK != nil {
		if *s.TopK <= 0 {
			return adapters.BadField("top_k", "must be a positive integer")
		}
		config.TopK = genai.Ptr(float32(*s.TopK))
	}
	if s.MaxTokens != nil {
		if *s.MaxTokens <= 0 || *s.MaxTokens > math.MaxInt32 {
			return adapters.BadField("max_tokens", "must be between 1 and %d", math.MaxInt32)
		}
		config.MaxOutputTokens = int32(*s.MaxTokens)
	}
	if len(s.Stop) > 0 {
		config.StopSequences = s.Stop
	}
	if s.Seed != nil {
		if *s.Seed < math.MinInt32 || *s.Seed > math.MaxInt32 {
			return adapters.BadField("seed", "must fit in 32 bits for Gemini")
		}
		config.Seed = genai.Ptr(int32(*s.Seed))
	}
	if isNullOrEmpty(s.ResponseFormat) {
		return nil
	}
	if !json.Valid(s.ResponseFormat) {
		return adapters.BadField("response_format", "not valid JSON")
	}
	rf := gjson.ParseBytes(s.ResponseFormat)
	switch rf.Get("type").String() {
	case "text":
	case "json_object":
		config.ResponseMIMEType = "application/json"
	case "json_schema":
		config.ResponseMIMEType = "application/json"
		schema := rf.Get("json_schema.schema")
		if !schema.Exists() {
			schema = rf.Get("schema")
		}
		if schema.Exists() {
			if !schema.IsObject() {
				return adapters.BadField("response_format", "json_schema.schema must be an object")
			}
			config.ResponseJsonSchema = json.RawMessage(schema.Raw)
		}
	default:
		return adapters.BadField("response_format", "unsupported type %q", rf.Get("type").String())
	}
	return nil
}

// isNullOrEmpty reports whether raw JSON is absent or the literal null.
func isNullOrEmpty(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
