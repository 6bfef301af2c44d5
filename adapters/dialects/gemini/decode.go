package gemini

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// generateRequest is a decoded generateContent request: the canonical
// call (its principal, dialect and agent are set once the model is
// resolved) and how the answer is to be shown.
type generateRequest struct {
	call adapters.Call
	// showThoughts is includeThoughts: thought text goes back to the
	// client as thought parts.
	showThoughts bool
}

const (
	unsupportedTool = "is not supported by the gateway: declare your own functions with functionDeclarations"
	unsupportedGen  = "is not supported by the gateway"
)

// requestFields are the top-level fields of GenerateContentRequest.
var requestFields = fieldSet{
	"model": "", "contents": "", "systemInstruction": "", "tools": "", "toolConfig": "",
	"safetySettings": "", "generationConfig": "", "labels": "", "serviceTier": "", "store": "",
	"cachedContent":     "context caches are not supported by the gateway: send the cached contents in contents",
	"continuationToken": unsupportedGen,
}

var contentFields = fieldSet{"role": "", "parts": ""}

// partFields are the fields of a Part; thought and thoughtSignature may
// accompany any of the data fields.
var partFields = fieldSet{
	"text": "", "inlineData": "", "fileData": "", "functionCall": "", "functionResponse": "",
	"thought": "", "thoughtSignature": "", "partMetadata": "", "mediaResolution": "",
	"executableCode":      "code execution is not supported by the gateway",
	"codeExecutionResult": "code execution is not supported by the gateway",
	"videoMetadata":       "videos are not supported by the gateway",
	"toolCall":            unsupportedTool,
	"toolResponse":        unsupportedTool,
}

var toolFields = fieldSet{
	"functionDeclarations": "",
	"googleSearch":         unsupportedTool, "googleSearchRetrieval": unsupportedTool,
	"codeExecution": unsupportedTool, "urlContext": unsupportedTool, "fileSearch": unsupportedTool,
	"computerUse": unsupportedTool, "googleMaps": unsupportedTool, "retrieval": unsupportedTool,
	"enterpriseWebSearch": unsupportedTool, "mcpServers": unsupportedTool,
}

var declarationFields = fieldSet{
	"name": "", "description": "", "parameters": "", "parametersJsonSchema": "",
	"response": "", "responseJsonSchema": "", "behavior": "",
}

var generationFields = fieldSet{
	"temperature": "", "topP": "", "topK": "", "candidateCount": "", "maxOutputTokens": "",
	"stopSequences": "", "seed": "", "responseMimeType": "", "responseSchema": "",
	"responseJsonSchema": "", "_responseJsonSchema": "", "thinkingConfig": "", "responseModalities": "",
	"mediaResolution": "",
	"presencePenalty": unsupportedGen, "frequencyPenalty": unsupportedGen,
	"responseLogprobs": unsupportedGen, "logprobs": unsupportedGen, "speechConfig": unsupportedGen,
	"audioTimestamp": unsupportedGen, "enableEnhancedCivicAnswers": unsupportedGen,
	"imageConfig": unsupportedGen, "routingConfig": unsupportedGen, "modelSelectionConfig": unsupportedGen,
	"enableAffectiveDialog": unsupportedGen, "audioTranscriptionConfig": unsupportedGen,
}

var callingModes = []string{"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}

// decodeGenerate parses and validates a generateContent request body.
// Every failure is an *adapters.Error naming the field at fault.
func decodeGenerate(body []byte, limits dialects.Limits) (*generateRequest, error) {
	root, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	return decodeGenerateObject(root, limits, true)
}

// decodeGenerateObject decodes a GenerateContentRequest object; contents
// may be empty only where the caller allows it (countTokens of a system
// instruction alone is not a thing Gemini allows either).
func decodeGenerateObject(root object, limits dialects.Limits, needContents bool) (*generateRequest, error) {
	if err := root.check(requestFields); err != nil {
		return nil, err
	}
	out := &generateRequest{}
	c := &out.call
	system, err := decodeSystem(root)
	if err != nil {
		return nil, err
	}
	if system != nil {
		c.Messages = append(c.Messages, *system)
	}
	contents, err := root.objects("contents")
	if err != nil {
		return nil, err
	}
	if len(contents) == 0 && needContents {
		return nil, adapters.BadField("contents", "is required: at least one content with parts")
	}
	d := contentDecoder{limits: limits, msgs: c.Messages}
	for _, co := range contents {
		if err := d.content(co); err != nil {
			return nil, err
		}
	}
	c.Messages = d.messages()
	if err := decodeTools(root, c); err != nil {
		return nil, err
	}
	if err := decodeToolConfig(root, c); err != nil {
		return nil, err
	}
	if err := decodeSafety(root); err != nil {
		return nil, err
	}
	if out.showThoughts, err = decodeGeneration(root, c); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeSystem reads systemInstruction: one system message of its text
// parts, which the agent's own system prompt precedes.
func decodeSystem(root object) (*adapters.Message, error) {
	si, ok, err := root.obj("systemInstruction")
	if err != nil || !ok {
		return nil, err
	}
	if err := si.check(contentFields); err != nil {
		return nil, err
	}
	parts, err := si.objects("parts")
	if err != nil {
		return nil, err
	}
	m := adapters.Message{Role: adapters.RoleSystem}
	for _, p := range parts {
		if err := p.check(partFields); err != nil {
			return nil, err
		}
		text := p.get("text")
		if !text.Exists() || text.Type != gjson.String {
			return nil, adapters.BadField(p.path, "must be a text part: a system instruction holds text only")
		}
		if text.Str != "" {
			m.Parts = append(m.Parts, adapters.Part{Type: adapters.PartText, Text: text.Str})
		}
	}
	if len(m.Parts) == 0 {
		return nil, nil
	}
	return &m, nil
}

// pendingCall is a function call of the latest model turn, for matching
// the function responses that answer it.
type pendingCall struct {
	id, name string
	answered bool
}

// contentDecoder turns contents into canonical messages. Consecutive
// model contents are one turn (the SDKs record a streamed answer as one
// content per chunk). Function calls that come without an id (the Gemini
// API often gives none) get one made of their position, so the same
// history always gives the same ids (and upstream prompt caches keep
// hitting); a function response is matched to its call by id, or else by
// name.
type contentDecoder struct {
	limits dialects.Limits
	msgs   []adapters.Message
	calls  []pendingCall
	index  int
	// inModel: the last content was a model turn, whose message is the
	// last of msgs.
	inModel bool
	// thoughts are the model turn's thinking blocks so far, in their
	// places; open is shown reasoning no signature ended yet, since its
	// place openAt.
	thoughts []adapters.ReasoningBlock
	open     strings.Builder
	openAt   int
	// texting: the model turn's last part was text, which the next text
	// part continues (a streamed answer comes back a chunk a content).
	texting bool
}

func (d *contentDecoder) content(co object) error {
	defer func() { d.index++ }()
	if err := co.check(contentFields); err != nil {
		return err
	}
	role, err := co.str("role")
	if err != nil {
		return err
	}
	parts, err := co.objects("parts")
	if err != nil {
		return err
	}
	switch role {
	case "", "user", "function":
		if len(parts) == 0 {
			return adapters.BadField(co.at("parts"), "must hold at least one part")
		}
		d.endModel()
		return d.userContent(parts)
	case "model":
		if !d.inModel {
			d.msgs = append(d.msgs, adapters.Message{Role: adapters.RoleAssistant})
			d.calls, d.inModel = d.calls[:0], true
		}
		return d.modelContent(&d.msgs[len(d.msgs)-1], parts)
	}
	return adapters.BadField(co.at("role"), "must be user or model, got %q", clip(role))
}

// messages returns the decoded messages without empty model turns (an
// SDK's record of an empty answer); a turn of encrypted thoughts only is
// not empty: Anthropic verifies them.
func (d *contentDecoder) messages() []adapters.Message {
	d.endModel()
	out := d.msgs[:0]
	for _, m := range d.msgs {
		if m.Role == adapters.RoleAssistant && len(m.Parts) == 0 && len(m.ToolCalls) == 0 && m.Reasoning == "" && m.ReasoningSignature == "" &&
			len(m.RedactedReasoning) == 0 {
			continue
		}
		out = append(out, m)
	}
	return out
}

// userContent: function responses become tool messages, in order, and the
// other parts one user message after them.
func (d *contentDecoder) userContent(parts []object) error {
	user := adapters.Message{Role: adapters.RoleUser}
	for _, p := range parts {
		if err := p.check(partFields); err != nil {
			return err
		}
		if fr, ok, err := p.obj("functionResponse"); err != nil {
			return err
		} else if ok {
			m, err := d.functionResponse(fr)
			if err != nil {
				return err
			}
			d.msgs = append(d.msgs, m)
			continue
		}
		if p.get("functionCall").Exists() {
			return adapters.BadField(p.at("functionCall"), "belongs in a model turn (role \"model\")")
		}
		part, ok, err := d.dataPart(p)
		if err != nil {
			return err
		}
		if ok {
			user.Parts = append(user.Parts, part)
		}
	}
	if len(user.Parts) > 0 {
		d.msgs = append(d.msgs, user)
	}
	return nil
}

// dataPart reads a text, inlineData or fileData part of a user turn; ok
// is false for an empty text part.
func (d *contentDecoder) dataPart(p object) (adapters.Part, bool, error) {
	if t := p.get("text"); t.Exists() {
		if t.Type != gjson.String {
			return adapters.Part{}, false, adapters.BadField(p.at("text"), "must be a string")
		}
		if thought, err := p.boolean("thought"); err != nil {
			return adapters.Part{}, false, err
		} else if thought {
			return adapters.Part{}, false, adapters.BadField(p.at("thought"), "thoughts belong in model turns")
		}
		return adapters.Part{Type: adapters.PartText, Text: t.Str}, t.Str != "", nil
	}
	if in, ok, err := p.obj("inlineData"); err != nil {
		return adapters.Part{}, false, err
	} else if ok {
		part, err := d.inlinePart(in)
		return part, err == nil, err
	}
	if fd, ok, err := p.obj("fileData"); err != nil {
		return adapters.Part{}, false, err
	} else if ok {
		part, err := filePart(fd)
		return part, err == nil, err
	}
	return adapters.Part{}, false, adapters.BadField(p.path, "holds no data: a part needs text, inlineData, fileData, functionCall or functionResponse")
}

// imageTypes are the inline media types every provider takes.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// defaultMaxImageBytes applies when the configuration sets no limit.
const defaultMaxImageBytes = 5 << 20

const mediaTypes = "an image (image/png, image/jpeg, image/gif, image/webp), a PDF (application/pdf) or text (text/*)"

// inlinePart reads inlineData: a base64 PNG, JPEG, GIF or WebP image
// within the image size limit (carried as a data: URL), a PDF or a text
// document (text/plain, text/markdown, …, read as plain text). The
// displayName titles a document.
func (d *contentDecoder) inlinePart(in object) (adapters.Part, error) {
	if err := in.check(fieldSet{"mimeType": "", "data": "", "displayName": ""}); err != nil {
		return adapters.Part{}, err
	}
	mime, err := in.str("mimeType")
	if err != nil {
		return adapters.Part{}, err
	}
	mime = strings.ToLower(strings.TrimSpace(mime))
	if mime == "image/jpg" {
		mime = "image/jpeg"
	}
	title, err := in.str("displayName")
	if err != nil {
		return adapters.Part{}, err
	}
	switch {
	case mime == "":
		return adapters.Part{}, adapters.BadField(in.at("mimeType"), "is required")
	case !imageTypes[mime] && mime != "application/pdf" && !strings.HasPrefix(mime, "text/"):
		return adapters.Part{}, adapters.BadField(in.at("mimeType"), "%q is not supported by the gateway: inline data must be %s", clip(mime), mediaTypes)
	}
	data, err := in.str("data")
	if err != nil {
		return adapters.Part{}, err
	}
	if data == "" {
		return adapters.Part{}, adapters.BadField(in.at("data"), "is required: the base64 bytes of the %s", mime)
	}
	if imageTypes[mime] {
		max := d.limits.MaxImageBytes
		if max <= 0 {
			max = defaultMaxImageBytes
		}
		if int64(len(data))/4*3 > max {
			return adapters.Part{}, &adapters.Error{Kind: adapters.KindTooLarge, Code: "image_too_large", Param: in.at("data"),
				Message: in.at("data") + ": the image is larger than the limit of " + strconv.FormatInt(max, 10) + " bytes"}
		}
	}
	// Proto3 JSON bytes may be standard or URL-safe base64, padded or not;
	// data: URLs and documents want standard padded base64.
	raw, err := decodeBase64(data)
	if err != nil || len(raw) == 0 {
		return adapters.Part{}, adapters.BadField(in.at("data"), "is not valid base64")
	}
	switch {
	case imageTypes[mime]:
		return adapters.Part{Type: adapters.PartImage, ImageURL: "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(raw)}, nil
	case mime == "application/pdf":
		return adapters.Part{Type: adapters.PartDocument, MediaType: mime, Data: base64.StdEncoding.EncodeToString(raw), Title: title}, nil
	}
	if !utf8.Valid(raw) {
		return adapters.Part{}, adapters.BadField(in.at("data"), "is not UTF-8 text, as %s must be", mime)
	}
	return adapters.Part{Type: adapters.PartDocument, MediaType: "text/plain", Text: string(raw), Title: title}, nil
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	t := strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(t); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(t)
}

// filePart reads fileData: an https URL of an image or a PDF, which goes
// to the upstream as such (each provider's API fetches it; the gateway
// fetches nothing itself, so no client can make it reach into its
// network). Files of the Gemini Files API and gs:// objects belong to a
// Google project the gateway's upstream need not be, and other media no
// canonical part carries: a 400 each.
func filePart(fd object) (adapters.Part, error) {
	if err := fd.check(fieldSet{"mimeType": "", "fileUri": "", "displayName": ""}); err != nil {
		return adapters.Part{}, err
	}
	uri, err := fd.str("fileUri")
	if err != nil {
		return adapters.Part{}, err
	}
	if uri == "" {
		return adapters.Part{}, adapters.BadField(fd.at("fileUri"), "is required")
	}
	mime, err := fd.str("mimeType")
	if err != nil {
		return adapters.Part{}, err
	}
	title, err := fd.str("displayName")
	if err != nil {
		return adapters.Part{}, err
	}
	u, err := url.Parse(uri)
	switch {
	case err != nil || u.Host == "":
		return adapters.Part{}, adapters.BadField(fd.at("fileUri"), "must be an https URL of an image or a PDF")
	case u.Host == "generativelanguage.googleapis.com":
		return adapters.Part{}, adapters.BadField(fd.at("fileUri"), "files of the Gemini Files API are not supported by the gateway: send the file as inlineData or an https URL")
	case u.Scheme != "https":
		return adapters.Part{}, adapters.BadField(fd.at("fileUri"), "must be an https URL of an image or a PDF, got a %s: URL", clip(u.Scheme))
	}
	mime = strings.ToLower(strings.TrimSpace(mime))
	if mime == "" && strings.HasSuffix(strings.ToLower(u.Path), ".pdf") {
		mime = "application/pdf"
	}
	switch {
	case mime == "application/pdf":
		return adapters.Part{Type: adapters.PartDocument, MediaType: mime, URL: uri, Title: title}, nil
	case mime == "" || strings.HasPrefix(mime, "image/"):
		return adapters.Part{Type: adapters.PartImage, ImageURL: uri}, nil
	}
	return adapters.Part{}, adapters.BadField(fd.at("mimeType"), "%q is not supported by the gateway: file data must be an image or a PDF", clip(mime))
}

// functionResponse reads a function response into a tool message whose
// text is the response object's JSON.
func (d *contentDecoder) functionResponse(fr object) (adapters.Message, error) {
	if err := fr.check(fieldSet{"id": "", "name": "", "response": "", "willContinue": "", "scheduling": "",
		"parts": "multimodal function responses are not supported by the gateway"}); err != nil {
		return adapters.Message{}, err
	}
	name, err := fr.str("name")
	if err != nil {
		return adapters.Message{}, err
	}
	if name == "" {
		return adapters.Message{}, adapters.BadField(fr.at("name"), "is required: the name of the function that was called")
	}
	id, err := fr.str("id")
	if err != nil {
		return adapters.Message{}, err
	}
	resp := fr.get("response")
	if resp.Exists() && !resp.IsObject() {
		return adapters.Message{}, adapters.BadField(fr.at("response"), "must be an object")
	}
	call := d.answer(id, name)
	if call == nil {
		return adapters.Message{}, adapters.BadField(fr.path, "answers no function call named %q in the model turn before it", clip(name))
	}
	text := "{}"
	if resp.Exists() {
		text = compact(resp.Raw)
	}
	m := adapters.TextMessage(adapters.RoleTool, text)
	m.ToolCallID, m.Name = call.id, name
	// Gemini's convention: a response of "output" on success, of "error"
	// on failure.
	m.IsError = resp.Get("error").Exists() && !resp.Get("output").Exists()
	return m, nil
}

// answer marks and returns the call a function response answers: the one
// with its id, else the first unanswered one with its name.
func (d *contentDecoder) answer(id, name string) *pendingCall {
	if id != "" {
		for i := range d.calls {
			if c := &d.calls[i]; c.id == id && c.name == name {
				c.answered = true
				return c
			}
		}
	}
	for i := range d.calls {
		if c := &d.calls[i]; !c.answered && c.name == name {
			c.answered = true
			return c
		}
	}
	return nil
}

// modelContent reads a model content into m, its turn's message: thought
// parts are its reasoning, text parts its answer, function calls its
// tool calls; thought signatures go back where they came from (see
// signature.go), each ending its thinking block in its place, so an
// Anthropic upstream gets every block back as it signed it.
func (d *contentDecoder) modelContent(m *adapters.Message, parts []object) error {
	for j, p := range parts {
		if err := p.check(partFields); err != nil {
			return err
		}
		wire, err := p.str("thoughtSignature")
		if err != nil {
			return err
		}
		var sig packed
		if wire != "" {
			sig = readSignature(wire)
		}
		thought, err := p.boolean("thought")
		if err != nil {
			return err
		}
		at := len(m.Parts) + len(m.ToolCalls)
		text := p.get("text")
		if thought || wire != "" || p.get("functionCall").Exists() {
			// Thoughts, calls and signatures end a text block (an empty
			// text part does not).
			d.texting = false
		}
		if fc, ok, err := p.obj("functionCall"); err != nil {
			return err
		} else if ok {
			tc, err := d.functionCall(fc, j)
			if err != nil {
				return err
			}
			if sig.Reasoning || len(sig.Redacted) > 0 || len(sig.Blocks) > 0 {
				d.sign(sig, at)
			} else {
				tc.Signature = sig.Signature
			}
			m.ToolCalls = append(m.ToolCalls, tc)
			continue
		}
		switch {
		case text.Exists() && text.Type != gjson.String:
			return adapters.BadField(p.at("text"), "must be a string")
		case p.get("functionResponse").Exists():
			return adapters.BadField(p.at("functionResponse"), "belongs in a user turn (role \"user\")")
		case p.get("inlineData").Exists() || p.get("fileData").Exists():
			return adapters.BadField(p.path, "media in a model turn are not supported by the gateway")
		case thought:
			// A thought part's signature is its own (Gemini's; Anthropic's
			// when one event brought text and signature) and ends the
			// block with the part's text, unless it signs the thoughts
			// before the part (Before, or encrypted thoughts that waited
			// for a part).
			own := wire != "" && !sig.Before && len(sig.Redacted) == 0 && len(sig.Blocks) == 0 && sig.Thinking == ""
			if wire != "" && !own {
				d.sign(sig, at)
			}
			if text.Str != "" {
				if d.open.Len() == 0 {
					d.openAt = at
				}
				d.open.WriteString(text.Str)
			}
			if own {
				d.sign(sig, at)
			}
			continue
		case text.Str != "":
			if wire != "" {
				// The signature of the reasoning before the text: on a
				// thought part's next part, or on a text part when the
				// thoughts were not shown.
				d.sign(sig, at)
			}
			if d.texting && wire == "" {
				m.Parts[len(m.Parts)-1].Text += text.Str
				continue
			}
			m.Parts = append(m.Parts, adapters.Part{Type: adapters.PartText, Text: text.Str})
			d.texting = true
			continue
		}
		if wire != "" {
			d.sign(sig, at)
		}
	}
	return nil
}

// sign ends thinking blocks at place at with the blocks sig carries: a
// signed block signs the shown reasoning not yet signed (its place where
// that began) unless it carries its own hidden text.
func (d *contentDecoder) sign(sig packed, at int) {
	for _, b := range sig.blocks() {
		if b.Redacted == "" && b.Text == "" && d.open.Len() > 0 {
			b.Text, at = d.open.String(), d.openAt
			d.open.Reset()
		}
		b.At = at
		d.thoughts = append(d.thoughts, b)
	}
}

// endModel ends the model turn being read: its thinking blocks become its
// message's reasoning (Message.SetReasoning), shown reasoning no
// signature ended a block of its own.
func (d *contentDecoder) endModel() {
	if !d.inModel {
		return
	}
	d.inModel, d.texting = false, false
	if d.open.Len() > 0 {
		d.thoughts = append(d.thoughts, adapters.ReasoningBlock{Text: d.open.String(), At: d.openAt})
		d.open.Reset()
	}
	if len(d.thoughts) > 0 {
		d.msgs[len(d.msgs)-1].SetReasoning(d.thoughts)
	}
	d.thoughts = nil
}

// functionCall reads a function call of model part j.
func (d *contentDecoder) functionCall(fc object, j int) (adapters.ToolCall, error) {
	if err := fc.check(fieldSet{"id": "", "name": "", "args": "", "partialArgs": "", "willContinue": ""}); err != nil {
		return adapters.ToolCall{}, err
	}
	name, err := fc.str("name")
	if err != nil {
		return adapters.ToolCall{}, err
	}
	if name == "" {
		return adapters.ToolCall{}, adapters.BadField(fc.at("name"), "is required")
	}
	id, err := fc.str("id")
	if err != nil {
		return adapters.ToolCall{}, err
	}
	if id == "" {
		id = "call_" + strconv.Itoa(d.index) + "_" + strconv.Itoa(j)
	}
	args := "{}"
	if a := fc.get("args"); a.Exists() {
		if !a.IsObject() {
			return adapters.ToolCall{}, adapters.BadField(fc.at("args"), "must be an object")
		}
		args = compact(a.Raw)
	}
	d.calls = append(d.calls, pendingCall{id: id, name: name})
	return adapters.ToolCall{ID: id, Name: name, Arguments: args}, nil
}

// decodeTools reads tools: function declarations only.
func decodeTools(root object, c *adapters.Call) error {
	tools, err := root.objects("tools")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range tools {
		if err := t.check(toolFields); err != nil {
			return err
		}
		decls, err := t.objects("functionDeclarations")
		if err != nil {
			return err
		}
		for _, fd := range decls {
			tool, err := decodeDeclaration(fd)
			if err != nil {
				return err
			}
			if seen[tool.Name] {
				return adapters.BadField(fd.at("name"), "duplicates the function %q", clip(tool.Name))
			}
			seen[tool.Name] = true
			c.ClientTools = append(c.ClientTools, tool)
		}
	}
	return nil
}

func decodeDeclaration(fd object) (adapters.Tool, error) {
	if err := fd.check(declarationFields); err != nil {
		return adapters.Tool{}, err
	}
	name, err := fd.str("name")
	if err != nil {
		return adapters.Tool{}, err
	}
	if name == "" {
		return adapters.Tool{}, adapters.BadField(fd.at("name"), "is required")
	}
	desc, err := fd.str("description")
	if err != nil {
		return adapters.Tool{}, err
	}
	tool := adapters.Tool{Name: name, Description: desc}
	params, hasParams, err := fd.obj("parameters")
	if err != nil {
		return tool, err
	}
	js, hasJS, err := fd.obj("parametersJsonSchema")
	if err != nil {
		return tool, err
	}
	switch {
	case hasParams && hasJS:
		return tool, adapters.BadField(fd.at("parametersJsonSchema"), "cannot be set together with parameters")
	case hasParams:
		schema, err := jsonSchema(params)
		if err != nil {
			return tool, err
		}
		tool.Parameters = schema
	case hasJS:
		tool.Parameters = json.RawMessage(compact(js.v.Raw))
	}
	return tool, nil
}

// decodeToolConfig reads toolConfig.functionCallingConfig into an OpenAI
// tool_choice, the canonical form: AUTO and VALIDATED are auto, NONE is
// none, ANY is required — with allowedFunctionNames, the only tools
// offered are those named (one name is that function, forced).
func decodeToolConfig(root object, c *adapters.Call) error {
	tc, ok, err := root.obj("toolConfig")
	if err != nil || !ok {
		return err
	}
	if err := tc.check(fieldSet{"functionCallingConfig": "", "retrievalConfig": "", "includeServerSideToolInvocations": ""}); err != nil {
		return err
	}
	fc, ok, err := tc.obj("functionCallingConfig")
	if err != nil || !ok {
		return err
	}
	if err := fc.check(fieldSet{"mode": "", "allowedFunctionNames": "", "streamFunctionCallArguments": ""}); err != nil {
		return err
	}
	mode, err := fc.enum("mode", callingModes)
	if err != nil {
		return err
	}
	allowed, err := fc.strings("allowedFunctionNames")
	if err != nil {
		return err
	}
	if len(allowed) > 0 && mode != "ANY" {
		return adapters.BadField(fc.at("allowedFunctionNames"), "may only be set with mode ANY")
	}
	switch mode {
	case "", "MODE_UNSPECIFIED":
	case "AUTO", "VALIDATED":
		c.ToolChoice = json.RawMessage(`"auto"`)
	case "NONE":
		c.ToolChoice = json.RawMessage(`"none"`)
	case "ANY":
		c.ToolChoice = json.RawMessage(`"required"`)
		if len(allowed) == 0 {
			break
		}
		keep := c.ClientTools[:0:0]
		for i, name := range allowed {
			found := false
			for _, t := range c.ClientTools {
				if t.Name == name {
					keep, found = append(keep, t), true
					break
				}
			}
			if !found {
				return adapters.BadField(fc.at("allowedFunctionNames")+"["+strconv.Itoa(i)+"]", "names no declared function: %q", clip(name))
			}
		}
		c.ClientTools = keep
		if len(keep) == 1 {
			b, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": keep[0].Name}})
			c.ToolChoice = b
		}
	}
	return nil
}

// decodeSafety checks safetySettings' shape. They are accepted and not
// applied: each upstream applies its own safety policy.
func decodeSafety(root object) error {
	settings, err := root.objects("safetySettings")
	if err != nil {
		return err
	}
	for _, s := range settings {
		if err := s.check(fieldSet{"category": "", "threshold": "", "method": ""}); err != nil {
			return err
		}
	}
	return nil
}

// thinkingLevels are Gemini 3's thinking levels and the efforts they are.
var thinkingLevels = map[string]string{"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}

// decodeGeneration reads generationConfig; it reports includeThoughts.
func decodeGeneration(root object, c *adapters.Call) (bool, error) {
	g, ok, err := root.obj("generationConfig")
	if err != nil || !ok {
		return false, err
	}
	if err := g.check(generationFields); err != nil {
		return false, err
	}
	s := &c.Sampling
	if s.Temperature, err = g.number("temperature"); err != nil {
		return false, err
	}
	if s.TopP, err = g.number("topP"); err != nil {
		return false, err
	}
	if s.TopK, err = g.integer("topK"); err != nil {
		return false, err
	}
	if s.TopK != nil && *s.TopK <= 0 {
		return false, adapters.BadField(g.at("topK"), "must be a positive integer")
	}
	if s.MaxTokens, err = g.integer("maxOutputTokens"); err != nil {
		return false, err
	}
	if s.MaxTokens != nil && *s.MaxTokens <= 0 {
		return false, adapters.BadField(g.at("maxOutputTokens"), "must be a positive integer")
	}
	if s.Stop, err = g.strings("stopSequences"); err != nil {
		return false, err
	}
	seed, err := g.integer("seed")
	if err != nil {
		return false, err
	}
	if seed != nil {
		v := int64(*seed)
		s.Seed = &v
	}
	if n, err := g.integer("candidateCount"); err != nil {
		return false, err
	} else if n != nil && *n != 1 {
		return false, adapters.BadField(g.at("candidateCount"), "must be 1: the gateway returns one candidate")
	}
	modalities, err := g.strings("responseModalities")
	if err != nil {
		return false, err
	}
	for i, m := range modalities {
		if m != "TEXT" {
			return false, adapters.BadField(g.at("responseModalities")+"["+strconv.Itoa(i)+"]", "only TEXT is supported by the gateway, got %q", clip(m))
		}
	}
	if s.ResponseFormat, err = decodeResponseFormat(g); err != nil {
		return false, err
	}
	return decodeThinking(g, c)
}

// decodeResponseFormat reads responseMimeType and the response schema
// into an OpenAI response_format, the canonical form.
func decodeResponseFormat(g object) (json.RawMessage, error) {
	mime, err := g.str("responseMimeType")
	if err != nil {
		return nil, err
	}
	var schema []byte
	if rs, ok, err := g.obj("responseSchema"); err != nil {
		return nil, err
	} else if ok {
		if schema, err = jsonSchema(rs); err != nil {
			return nil, err
		}
	}
	for _, f := range [...]string{"responseJsonSchema", "_responseJsonSchema"} {
		js := g.get(f)
		if !js.Exists() {
			continue
		}
		if !js.IsObject() {
			return nil, adapters.BadField(g.at(f), "must be an object")
		}
		if schema != nil {
			return nil, adapters.BadField(g.at(f), "cannot be set together with responseSchema")
		}
		schema = []byte(compact(js.Raw))
	}
	switch mime {
	case "", "text/plain":
		if schema != nil {
			return nil, adapters.BadField(g.at("responseMimeType"), "must be application/json with a response schema")
		}
		return nil, nil
	case "application/json":
		if schema == nil {
			return json.RawMessage(`{"type":"json_object"}`), nil
		}
		b := append([]byte(`{"type":"json_schema","json_schema":{"name":"response","schema":`), schema...)
		return append(b, "}}"...), nil
	}
	return nil, adapters.BadField(g.at("responseMimeType"), "%q is not supported by the gateway: use text/plain or application/json", clip(mime))
}

// decodeThinking reads thinkingConfig: a budget of 0 turns thinking off,
// -1 on at the model's discretion, a positive one on within that budget;
// a level is an effort; includeThoughts alone turns it on. Without a
// thinkingConfig the agent's default applies.
func decodeThinking(g object, c *adapters.Call) (bool, error) {
	tc, ok, err := g.obj("thinkingConfig")
	if err != nil || !ok {
		return false, err
	}
	if err := tc.check(fieldSet{"includeThoughts": "", "thinkingBudget": "", "thinkingLevel": ""}); err != nil {
		return false, err
	}
	show, err := tc.boolean("includeThoughts")
	if err != nil {
		return false, err
	}
	budget, err := tc.integer("thinkingBudget")
	if err != nil {
		return false, err
	}
	level, err := tc.str("thinkingLevel")
	if err != nil {
		return false, err
	}
	on := true
	switch {
	case budget != nil && level != "":
		return false, adapters.BadField(tc.at("thinkingLevel"), "cannot be set together with thinkingBudget")
	case budget != nil && *budget == 0:
		on = false
	case budget != nil && *budget > 0:
		c.ReasoningBudget = *budget
	case budget != nil && *budget != -1:
		return false, adapters.BadField(tc.at("thinkingBudget"), "must be -1 (dynamic), 0 (off) or a positive number of tokens")
	case level != "" && level != "THINKING_LEVEL_UNSPECIFIED":
		effort, ok := thinkingLevels[level]
		if !ok {
			return false, adapters.BadField(tc.at("thinkingLevel"), "must be MINIMAL, LOW, MEDIUM or HIGH, got %q", clip(level))
		}
		c.ReasoningEffort = effort
	case budget == nil && !show:
		return false, nil // an empty thinkingConfig: the agent's default
	}
	c.Reasoning = &on
	return show && on, nil
}
