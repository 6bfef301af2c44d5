package e2e

// Acceptance tests of the Responses dialect (issue 9, items 1–4) through
// a real Caddy with an httptest upstream: every JSON example of the
// document sent as written gives the documented shape; the official Go
// SDK (github.com/openai/openai-go/v3) and the official npm `openai` SDK
// drive the Responses API with only the base URL changed; version
// pinning; a draft agent rejected with 400; tenant isolation on every
// endpoint.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/caddyserver/caddy/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

const rspReply = "To reset your password, go to Settings > Security."

// rspBlock declares the document's support-bot on an openai provider
// (gpt-* routed to it too, for direct model calls) and an agent private
// to tenant-a. prompt is support-bot's system prompt.
func rspBlock(up *fakeupstream.OpenAI, prompt string) string {
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		route gpt-* up
		agent support-bot {
			name "Support Bot"
			description "Customer support agent"
			system_prompt "` + prompt + `"
			model gpt-4o
			provider up
			temperature 0.7
			top_p 1
			max_tokens 4096
		}
		agent secret-a {
			name "Secret A"
			tenant tenant-a
			model gpt-4o
			provider up
		}
`
}

func rspStart(t *testing.T, up *fakeupstream.OpenAI) *testgate.Gateway {
	return testgate.Start(t, testgate.Config{Block: rspBlock(up, "You are the support bot.")})
}

// rspClient is an openai-go client on base (a path of the gateway).
func rspClient(g *testgate.Gateway, base, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(g.URL+base), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// rspExample is one example of the document.
type rspExample struct {
	name, method, path, body, response string
}

func rspExamples(t *testing.T) []rspExample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", "examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []rspExample
	for _, sec := range strings.Split(string(b), "\n### ")[1:] {
		head, response, _ := strings.Cut(sec, "\n# Response\n")
		lines := strings.SplitN(head, "\n", 3)
		ex := rspExample{name: lines[0], response: response}
		ex.method, ex.path, _ = strings.Cut(lines[1], " ")
		if len(lines) == 3 {
			ex.body = lines[2]
		}
		out = append(out, ex)
	}
	return out
}

// rspMatchDoc checks got against a documented JSON value: every
// documented key is there with the documented JSON type (a documented
// null allows any), recursively, each item of an array against the
// documented first one.
func rspMatchDoc(t *testing.T, where string, doc, got gjson.Result) {
	t.Helper()
	if doc.Type == gjson.Null {
		if !got.Exists() {
			t.Errorf("%s: missing", where)
		}
		return
	}
	if !got.Exists() {
		t.Errorf("%s: missing", where)
		return
	}
	if doc.Type != got.Type || doc.IsArray() != got.IsArray() || doc.IsObject() != got.IsObject() {
		t.Errorf("%s: documented %s, got %s", where, doc.Raw, got.Raw)
		return
	}
	switch {
	case doc.IsObject():
		doc.ForEach(func(k, v gjson.Result) bool {
			rspMatchDoc(t, where+"."+k.Str, v, got.Get(gjson.Escape(k.Str)))
			return true
		})
	case doc.IsArray():
		items := got.Array()
		if len(doc.Array()) > 0 && len(items) == 0 {
			t.Errorf("%s: empty, documented %s", where, doc.Raw)
			return
		}
		if len(doc.Array()) > 0 {
			for i, it := range items {
				rspMatchDoc(t, where+"["+strconv.Itoa(i)+"]", doc.Array()[0], it)
			}
		}
	}
}

var jsISOTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestResponsesDocumentExamples(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: rspReply}).Start()
	defer up.Close()
	g := rspStart(t, up)
	// The first invocation pins version 1: publish it.
	status, body, _ := g.Do("POST", "/api/client/v1/agents/support-bot/versions", testgate.KeyA, "{}")
	if status != 201 || gjson.GetBytes(body, "version").Int() != 1 {
		t.Fatalf("publishing version 1: %d %s", status, body)
	}
	first := ""
	for _, ex := range rspExamples(t) {
		t.Run(ex.name, func(t *testing.T) {
			path := strings.ReplaceAll(ex.path, ":agentKey", "support-bot")
			reqBody := ex.body
			if first != "" {
				reqBody = strings.ReplaceAll(reqBody, "resp_64a1b2c3d4e5f6", first)
			}
			var send any
			if strings.TrimSpace(reqBody) != "" {
				send = reqBody
			}
			status, got, hdr := g.Do(ex.method, path, testgate.KeyA, send)
			if status != 200 || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("%s %s: %d %s", ex.method, path, status, got)
			}
			doc := gjson.Parse(ex.response)
			res := gjson.ParseBytes(got)
			if ex.name == "list" {
				// The documented agent sets every parameter; others leave
				// some to the model (null), so only support-bot is held to
				// the documented types.
				rspMatchDoc(t, ex.name, doc.Get("agents.0"), res.Get(`agents.#(key=="support-bot")`))
			} else {
				rspMatchDoc(t, ex.name, doc, res)
			}
			if ex.method == "GET" {
				agent := res.Get("agent")
				if ex.name == "list" {
					agent = res.Get(`agents.#(key=="support-bot")`)
					if res.Get(`agents.#(key=="secret-a").name`).Str != "Secret A" {
						t.Errorf("tenant-a's own agent missing from %s", got)
					}
				}
				want := doc.Get("agent")
				if !want.Exists() {
					want = doc.Get("agents.0")
				}
				for _, k := range []string{"key", "name", "description", "config.modelKey", "config.temperature", "config.topP", "config.maxTokens", "status"} {
					if agent.Get(k).Raw != want.Get(k).Raw {
						t.Errorf("%s = %s, documented %s", k, agent.Get(k).Raw, want.Get(k).Raw)
					}
				}
				if !jsISOTime.MatchString(agent.Get("createdAt").Str) {
					t.Errorf("createdAt %q is not in the document's format", agent.Get("createdAt").Str)
				}
				return
			}
			for k, v := range map[string]string{"object": "response", "model": "support-bot", "status": "completed",
				"output.0.type": "message", "output.0.role": "assistant", "output.0.content.0.type": "output_text",
				"output.0.content.0.text": rspReply} {
				if res.Get(k).Str != v {
					t.Errorf("%s = %s, want %q", k, res.Get(k).Raw, v)
				}
			}
			id := res.Get("id").Str
			if !regexp.MustCompile(`^resp_conv_[a-z2-7]{26}$`).MatchString(id) {
				t.Errorf("id %q is not resp_{conversationId}", id)
			}
			u := res.Get("usage")
			if u.Get("total_tokens").Int() != u.Get("input_tokens").Int()+u.Get("output_tokens").Int() || u.Get("output_tokens").Int() == 0 {
				t.Errorf("usage = %s", u.Raw)
			}
			switch ex.name {
			case "invoke":
				first = id
				if res.Get("version").Int() != 1 {
					t.Errorf("version = %s, want the pinned 1", res.Get("version").Raw)
				}
			case "multi_turn":
				// A response of its own, continuing the first.
				if id == first || res.Get("previous_response_id").Str != first {
					t.Errorf("multi-turn id %s previous %s, want a new id continuing %s", id, res.Get("previous_response_id").Raw, first)
				}
				// The gateway kept the history: the first turn was replayed.
				msgs := up.LastRequest().Get("messages").Array()
				if len(msgs) != 4 || msgs[1].Get("content").Str != "How do I reset my password?" || msgs[2].Get("content").Str != rspReply {
					t.Errorf("upstream messages of the second turn: %s", up.LastRequest().Get("messages").Raw)
				}
			default:
				if id == first || res.Get("previous_response_id").Type != gjson.Null {
					t.Errorf("a request without previous_response_id continued a conversation: %s", got)
				}
			}
		})
	}
}

func TestResponsesOpenAIGoSDK(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: rspReply, Reasoning: "Thinking it through."}).Start()
	defer up.Close()
	g := rspStart(t, up)
	ctx := context.Background()
	for _, base := range []string{"/api/client/v1", "/v1"} {
		client := rspClient(g, base, testgate.KeyA)
		t.Run(base+"/create", func(t *testing.T) {
			resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
				Model:           "support-bot",
				Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("How do I reset my password?")},
				Instructions:    openai.String("Be brief."),
				Temperature:     openai.Float(0.3),
				MaxOutputTokens: openai.Int(200),
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.OutputText() != rspReply || resp.Status != "completed" || resp.Object != "response" || !strings.HasPrefix(resp.ID, "resp_") {
				t.Fatalf("response = %s", resp.RawJSON())
			}
			if resp.Usage.TotalTokens != resp.Usage.InputTokens+resp.Usage.OutputTokens || resp.Usage.OutputTokens == 0 {
				t.Errorf("usage = %+v", resp.Usage)
			}
			sent := up.LastRequest()
			if sent.Get("messages.0.content").Str != "You are the support bot.\n\nBe brief." || sent.Get("temperature").Float() != 0.3 ||
				sent.Get("max_tokens").Int() != 200 && sent.Get("max_completion_tokens").Int() != 200 {
				t.Errorf("upstream request = %s", sent.Raw)
			}
		})
		t.Run(base+"/create streaming", func(t *testing.T) {
			stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
				Model: "support-bot",
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
					responses.ResponseInputItemParamOfMessage("Stream please", responses.EasyInputMessageRoleUser)}},
			})
			var types []string
			var text strings.Builder
			var final responses.Response
			for stream.Next() {
				ev := stream.Current()
				if ev.SequenceNumber != int64(len(types)) {
					t.Errorf("event %d has sequence_number %d", len(types), ev.SequenceNumber)
				}
				types = append(types, ev.Type)
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.Delta)
				case "response.completed":
					final = ev.AsResponseCompleted().Response
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
			if len(types) < 9 || strings.Join(types[:4], ",") != strings.Join(want, ",") ||
				strings.Join(types[len(types)-4:], ",") != "response.output_text.done,response.content_part.done,response.output_item.done,response.completed" {
				t.Errorf("events = %v", types)
			}
			if text.String() != rspReply || final.OutputText() != rspReply || final.Status != "completed" || final.Usage.OutputTokens == 0 {
				t.Errorf("streamed %q, final %s", text.String(), final.RawJSON())
			}
			if !up.LastRequest().Get("stream").Bool() {
				t.Error("upstream was not streamed")
			}
		})
		t.Run(base+"/multi-turn", func(t *testing.T) {
			first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("My name is Ada.")}})
			if err != nil {
				t.Fatal(err)
			}
			second, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot",
				Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("What is my name?")},
				PreviousResponseID: openai.String(first.ID)})
			if err != nil {
				t.Fatal(err)
			}
			if second.ID == first.ID || second.PreviousResponseID != first.ID {
				t.Errorf("second turn id %s previous %s, first %s: want its own id, continuing the first", second.ID, second.PreviousResponseID, first.ID)
			}
			var contents []string
			for _, m := range up.LastRequest().Get("messages").Array() {
				contents = append(contents, m.Get("role").Str+":"+m.Get("content").Str)
			}
			want := []string{"system:You are the support bot.", "user:My name is Ada.", "assistant:" + rspReply, "user:What is my name?"}
			if strings.Join(contents, "|") != strings.Join(want, "|") {
				t.Errorf("upstream messages = %v, want %v", contents, want)
			}
			got, err := client.Responses.Get(ctx, second.ID, responses.ResponseGetParams{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != second.ID || got.PreviousResponseID != first.ID || got.OutputText() != rspReply {
				t.Errorf("retrieved %s", got.RawJSON())
			}
			_, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot",
				Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("x")},
				PreviousResponseID: openai.String("resp_conv_unknown")})
			rspWantAPIError(t, err, 404, "previous_response_not_found")
		})
		t.Run(base+"/function tool round trip", func(t *testing.T) {
			up.ToolName, up.ToolArgs, up.ToolCallID = "get_weather", `{"city":"Paris"}`, "call_paris"
			defer func() { up.ToolName = "" }()
			tools := []responses.ToolUnionParam{responses.ToolParamOfFunction("get_weather",
				map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}, true)}
			for _, streaming := range []bool{false, true} {
				params := responses.ResponseNewParams{Model: "support-bot", Tools: tools,
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")}}
				var resp responses.Response
				if streaming {
					stream := client.Responses.NewStreaming(ctx, params)
					var args string
					for stream.Next() {
						ev := stream.Current()
						switch ev.Type {
						case "response.function_call_arguments.done":
							args = ev.Arguments
						case "response.completed":
							resp = ev.AsResponseCompleted().Response
						}
					}
					if err := stream.Err(); err != nil {
						t.Fatal(err)
					}
					if args != `{"city":"Paris"}` {
						t.Errorf("streamed arguments = %q", args)
					}
				} else {
					r, err := client.Responses.New(ctx, params)
					if err != nil {
						t.Fatal(err)
					}
					resp = *r
				}
				var call responses.ResponseFunctionToolCall
				for _, it := range resp.Output {
					if it.Type == "function_call" {
						call = it.AsFunctionCall()
					}
				}
				if call.Name != "get_weather" || call.CallID != "call_paris" || call.Arguments != `{"city":"Paris"}` || !strings.HasPrefix(call.ID, "fc_") {
					t.Fatalf("streaming=%v: output = %s", streaming, resp.RawJSON())
				}
				if up.LastRequest().Get("tools.0.function.name").Str != "get_weather" {
					t.Errorf("tool not passed upstream: %s", up.LastRequest().Raw)
				}
				output := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temp":21}`)
				output.OfFunctionCallOutput.CallID = openai.String(call.CallID)
				next, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot", Tools: tools,
					PreviousResponseID: openai.String(resp.ID),
					Input:              responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{output}},
				})
				if err != nil {
					t.Fatal(err)
				}
				if next.OutputText() != rspReply {
					t.Errorf("final answer = %s", next.RawJSON())
				}
				msgs := up.LastRequest().Get("messages")
				if msgs.Get("@reverse.0.role").Str != "tool" || msgs.Get("@reverse.0.tool_call_id").Str != "call_paris" ||
					msgs.Get("@reverse.0.content").Str != `{"temp":21}` ||
					msgs.Get("@reverse.1.tool_calls.0.function.arguments").Str != `{"city":"Paris"}` {
					t.Errorf("tool round trip not sent upstream intact: %s", msgs.Raw)
				}
			}
		})
		t.Run(base+"/errors", func(t *testing.T) {
			_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "no-such-agent",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
			rspWantAPIError(t, err, 404, "model_not_found")
			_, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot"})
			rspWantAPIError(t, err, 400, "missing_required_parameter")
			wrong := rspClient(g, base, "agk_wrong_wrong_wrong_wrong")
			_, err = wrong.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
			rspWantAPIError(t, err, 401, "")
		})
	}
	t.Run("upstream failure is a 500", func(t *testing.T) {
		up.Status = http.StatusBadGateway
		defer func() { up.Status = 0 }()
		client := rspClient(g, "/v1", testgate.KeyA)
		_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
		rspWantAPIError(t, err, 500, "")
	})
	t.Run("models", func(t *testing.T) {
		client := rspClient(g, "/api/client/v1", testgate.KeyA)
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		// The agents first, then the models gpt-* sends upstream.
		if strings.Join(ids, ",") != "support-bot,secret-a,gpt-3.5-turbo-instruct,gpt-4o,gpt-4o-mini" {
			t.Errorf("models = %v", ids)
		}
	})
}

func rspWantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("want an API error %d, got %v", status, err)
	}
	if apiErr.StatusCode != status || code != "" && apiErr.Code != code {
		t.Errorf("error = %d %s (%s), want %d %s", apiErr.StatusCode, apiErr.Code, apiErr.Message, status, code)
	}
}

// TestResponsesNodeSDK runs the official npm openai SDK's
// responses.create (plain, continued, streamed), responses.stream and
// responses.retrieve against the gateway. The SDK is installed into a
// temporary directory (npm's cache is kept across runs).
func TestResponsesNodeSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Pinned: the version this test was written against (it runs on Node
	// 18 and later, with no dependencies).
	sdk := installNodeSDK(ctx, t, "openai@6.30.1")

	up := (&fakeupstream.OpenAI{Reply: rspReply}).Start()
	defer up.Close()
	g := rspStart(t, up)
	for _, base := range []string{"/api/client/v1", "/v1"} {
		t.Run(base, func(t *testing.T) {
			out := sdk.run(ctx, t, "responses/sdk.mjs", g.URL+base, testgate.KeyA, "support-bot")
			r := gjson.ParseBytes(out)
			checks := map[string]string{
				"create.object": "response", "create.status": "completed", "create.text": rspReply, "create.wireText": rspReply,
				"followUp.text": rspReply, "stream.text": rspReply, "stream.completedText": rspReply,
				"stream.completedStatus": "completed", "helper.text": rspReply, "helper.status": "completed",
				"retrieved.text": rspReply, "notFound.cls": "NotFoundError", "notFound.code": "model_not_found",
				"badRequest.cls": "BadRequestError", "badRequest.param": "input",
			}
			for k, want := range checks {
				if got := r.Get(k).Str; got != want {
					t.Errorf("%s = %q, want %q (all: %s)", k, got, want, out)
				}
			}
			id := r.Get("create.id").Str
			follow := r.Get("followUp.id").Str
			if !strings.HasPrefix(id, "resp_") || !strings.HasPrefix(follow, "resp_") || follow == id || r.Get("followUp.previous").Str != id || r.Get("retrieved.id").Str != id {
				t.Errorf("ids: %s", out)
			}
			types := r.Get("stream.types").Array()
			if len(types) < 9 || types[0].Str != "response.created" || types[len(types)-1].Str != "response.completed" {
				t.Errorf("stream events: %s", r.Get("stream.types").Raw)
			}
			for i, s := range r.Get("stream.seqs").Array() {
				if s.Int() != int64(i) {
					t.Errorf("sequence numbers: %s", r.Get("stream.seqs").Raw)
					break
				}
			}
		})
	}
}

// TestResponsesVersionPinning publishes support-bot, changes its
// declared configuration by reloading Caddy, publishes again, changes it
// once more: requests run the latest published version unless they pin
// one, and a conversation keeps its version.
func TestResponsesVersionPinning(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: rspReply}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: rspBlock(up, "Prompt one.")})
	publish := func(want int64) {
		t.Helper()
		status, body, _ := g.Do("POST", "/api/client/v1/agents/support-bot/versions", testgate.KeyA, "{}")
		if status != 201 || gjson.GetBytes(body, "version").Int() != want || gjson.GetBytes(body, "config.modelKey").Str != "gpt-4o" {
			t.Fatalf("publish: %d %s", status, body)
		}
	}
	reload := func(prompt string) {
		t.Helper()
		g.Load(testgate.Config{Block: rspBlock(up, prompt)})
		http.DefaultClient.CloseIdleConnections()
	}
	publish(1)
	reload("Prompt two.")
	publish(2)
	reload("Working copy.")

	ask := func(body string) gjson.Result {
		t.Helper()
		status, resp, _ := g.Do("POST", "/api/client/v1/responses", testgate.KeyA, body)
		if status != 200 {
			t.Fatalf("%s: %d %s", body, status, resp)
		}
		return gjson.ParseBytes(resp)
	}
	system := func() string { return up.LastRequest().Get("messages.0.content").Str }
	if r := ask(`{"model":"support-bot","input":"Hi"}`); r.Get("version").Int() != 2 || system() != "Prompt two." {
		t.Errorf("unpinned: version %s, system %q", r.Get("version").Raw, system())
	}
	first := ask(`{"model":"support-bot","input":"Hi","version":1}`)
	if first.Get("version").Int() != 1 || system() != "Prompt one." {
		t.Errorf("pinned 1: version %s, system %q", first.Get("version").Raw, system())
	}
	id := first.Get("id").Str
	if r := ask(`{"model":"support-bot","input":"Again","previous_response_id":"` + id + `"}`); r.Get("version").Int() != 1 || system() != "Prompt one." {
		t.Errorf("continued conversation: version %s, system %q", r.Get("version").Raw, system())
	}
	moved := ask(`{"model":"support-bot","input":"Again","previous_response_id":"` + id + `","version":2}`)
	if moved.Get("version").Int() != 2 || system() != "Prompt two." {
		t.Errorf("conversation moved to 2: version %s, system %q", moved.Get("version").Raw, system())
	}
	if r := ask(`{"model":"support-bot","input":"Again","previous_response_id":"` + moved.Get("id").Str + `"}`); r.Get("version").Int() != 2 {
		t.Errorf("conversation keeps 2: version %s", r.Get("version").Raw)
	}
	// The branch that stayed at 1 keeps 1.
	if r := ask(`{"model":"support-bot","input":"Again","previous_response_id":"` + id + `"}`); r.Get("version").Int() != 1 {
		t.Errorf("the other branch: version %s", r.Get("version").Raw)
	}
	for body, want := range map[string]int{
		`{"model":"support-bot","input":"Hi","version":9}`:  404,
		`{"model":"support-bot","input":"Hi","version":0}`:  400,
		`{"model":"support-bot","input":"Hi","version":-2}`: 400,
	} {
		if status, resp, _ := g.Do("POST", "/api/client/v1/responses", testgate.KeyA, body); status != want || gjson.GetBytes(resp, "error.param").Str != "version" {
			t.Errorf("%s: %d %s, want %d", body, status, resp, want)
		}
	}
	status, body, _ := g.Do("GET", "/api/client/v1/agents/support-bot/versions", testgate.KeyA, "{}")
	if status != 200 || gjson.GetBytes(body, "versions.#").Int() != 2 || gjson.GetBytes(body, "versions.1.version").Int() != 2 {
		t.Errorf("versions: %d %s", status, body)
	}
	// Published versions survive a restart.
	g.Restart(testgate.Config{Block: rspBlock(up, "Working copy.")})
	http.DefaultClient.CloseIdleConnections()
	if r := ask(`{"model":"support-bot","input":"Hi"}`); r.Get("version").Int() != 2 || system() != "Prompt two." {
		t.Errorf("after restart: version %s, system %q", r.Get("version").Raw, system())
	}
}

// rspSeed stops Caddy, stores agents in the gateway's store as another
// dialect (or the dashboard) would have, and starts Caddy again.
func rspSeed(t *testing.T, g *testgate.Gateway, cfg testgate.Config, agents ...*adapters.Agent) {
	t.Helper()
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err := bbolt.Open(filepath.Join(g.DataDir, "agentgate.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if err := s.CreateAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	g.Load(cfg)
	http.DefaultClient.CloseIdleConnections()
}

func TestResponsesDraftAgent(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: rspReply}).Start()
	defer up.Close()
	cfg := testgate.Config{Block: rspBlock(up, "You are the support bot.")}
	g := testgate.Start(t, cfg)
	now := time.Now()
	rspSeed(t, g, cfg,
		&adapters.Agent{ID: "drafty", Tenant: "tenant-a", Name: "Drafty", Model: "gpt-4o", Provider: "up", Status: adapters.StatusDraft, CreatedAt: now},
		&adapters.Agent{ID: "sleepy", Tenant: "tenant-a", Name: "Sleepy", Model: "gpt-4o", Provider: "up", Status: adapters.StatusInactive, CreatedAt: now})
	ctx := context.Background()
	client := rspClient(g, "/api/client/v1", testgate.KeyA)
	for _, agent := range []string{"drafty", "sleepy"} {
		_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: agent,
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Hi")}})
		rspWantAPIError(t, err, 400, "agent_not_active")
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: agent,
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Hi")}})
		for stream.Next() {
		}
		rspWantAPIError(t, stream.Err(), 400, "agent_not_active")
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("upstream called %d times for agents that are not active", n)
	}
	for q, want := range map[string]string{"": "support-bot,secret-a,drafty,sleepy", "?status=draft": "drafty",
		"?status=inactive": "sleepy", "?status=active": "support-bot,secret-a"} {
		status, body, _ := g.Do("GET", "/api/client/v1/agents"+q, testgate.KeyA, nil)
		var keys []string
		for _, a := range gjson.GetBytes(body, "agents").Array() {
			keys = append(keys, a.Get("key").Str)
		}
		if status != 200 || strings.Join(keys, ",") != want {
			t.Errorf("agents%s: %d %v, want %s", q, status, keys, want)
		}
	}
	if status, body, _ := g.Do("GET", "/api/client/v1/agents?status=archived", testgate.KeyA, nil); status != 400 || gjson.GetBytes(body, "error.param").Str != "status" {
		t.Errorf("bad status filter: %d %s", status, body)
	}
	status, body, _ := g.Do("GET", "/api/client/v1/agents/drafty", testgate.KeyA, nil)
	if status != 200 || gjson.GetBytes(body, "agent.status").Str != "draft" {
		t.Errorf("draft agent: %d %s", status, body)
	}
	// Not invocable, so not a model.
	status, body, _ = g.Do("GET", "/api/client/v1/models", testgate.KeyA, nil)
	if status != 200 || strings.Contains(string(body), "drafty") {
		t.Errorf("models: %d %s", status, body)
	}
}

// TestResponsesTenantIsolation: tenant B sees nothing of tenant A's
// agents, versions, conversations and responses on any endpoint, and
// every endpoint wants a key.
func TestResponsesTenantIsolation(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: rspReply}).Start()
	defer up.Close()
	g := rspStart(t, up)
	// Tenant A publishes versions of its own agent and of the shared one,
	// and holds a conversation with each.
	for _, agent := range []string{"secret-a", "support-bot"} {
		if status, body, _ := g.Do("POST", "/api/client/v1/agents/"+agent+"/versions", testgate.KeyA, "{}"); status != 201 {
			t.Fatalf("publish %s: %d %s", agent, status, body)
		}
	}
	conv := map[string]string{}
	for _, agent := range []string{"secret-a", "support-bot"} {
		status, body, _ := g.Do("POST", "/api/client/v1/responses", testgate.KeyA, `{"model":"`+agent+`","input":"My secret is Zebraphant."}`)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		conv[agent] = gjson.GetBytes(body, "id").Str
	}
	before := len(up.Requests())
	notFound := []struct{ method, path, body string }{
		{"GET", "/api/client/v1/agents/secret-a", ""},
		{"GET", "/api/client/v1/agents/secret-a/versions", ""},
		{"POST", "/api/client/v1/agents/secret-a/versions", "{}"},
		{"GET", "/api/client/v1/agents/secret-a/versions/1", ""},
		{"GET", "/api/client/v1/agents/support-bot/versions/1", ""},
		{"POST", "/api/client/v1/responses", `{"model":"secret-a","input":"Hi"}`},
		{"POST", "/api/client/v1/agents/responses", `{"model":"secret-a","input":"Hi"}`},
		{"POST", "/v1/responses", `{"model":"Secret A","input":"Hi"}`},
		{"POST", "/api/client/v1/responses", `{"model":"support-bot","input":"Hi","version":1}`},
		{"POST", "/api/client/v1/responses", `{"model":"support-bot","input":"What is my secret?","previous_response_id":"` + conv["support-bot"] + `"}`},
		{"POST", "/v1/responses", `{"model":"support-bot","input":"What is my secret?","previous_response_id":"` + conv["support-bot"] + `","stream":true}`},
		{"GET", "/api/client/v1/responses/" + conv["support-bot"], ""},
		{"GET", "/v1/responses/" + conv["secret-a"], ""},
		{"GET", "/api/client/v1/models/secret-a", ""},
	}
	for _, c := range notFound {
		var body any
		if c.body != "" {
			body = c.body
		}
		status, resp, _ := g.Do(c.method, c.path, testgate.KeyB, body)
		if status != 404 || !gjson.GetBytes(resp, "error.message").Exists() {
			t.Errorf("tenant B %s %s %s: %d %s", c.method, c.path, c.body, status, resp)
		}
		if strings.Contains(string(resp), "Zebraphant") {
			t.Errorf("tenant B %s %s leaks tenant A's conversation: %s", c.method, c.path, resp)
		}
	}
	if n := len(up.Requests()); n != before {
		t.Errorf("upstream called %d times for tenant B's refused requests", n-before)
	}
	status, body, _ := g.Do("GET", "/api/client/v1/agents", testgate.KeyB, nil)
	if status != 200 || strings.Contains(string(body), "secret-a") || gjson.GetBytes(body, "agents.#").Int() != 1 {
		t.Errorf("tenant B agents: %d %s", status, body)
	}
	status, body, _ = g.Do("GET", "/api/client/v1/agents/support-bot/versions", testgate.KeyB, nil)
	if status != 200 || gjson.GetBytes(body, "versions.#").Int() != 0 {
		t.Errorf("tenant B sees tenant A's versions: %d %s", status, body)
	}
	status, body, _ = g.Do("GET", "/api/client/v1/models", testgate.KeyB, nil)
	if status != 200 || strings.Contains(string(body), "secret-a") {
		t.Errorf("tenant B models: %d %s", status, body)
	}
	// Tenant B's own conversation with the shared agent is its own.
	status, body, _ = g.Do("POST", "/api/client/v1/responses", testgate.KeyB, `{"model":"support-bot","input":"Hi"}`)
	if status != 200 || gjson.GetBytes(body, "id").Str == conv["support-bot"] || gjson.GetBytes(body, "version").Type != gjson.Null {
		t.Errorf("tenant B's own response: %d %s", status, body)
	}
	// Every endpoint wants a key.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/client/v1/agents"}, {"GET", "/api/client/v1/agents/support-bot"},
		{"GET", "/api/client/v1/agents/support-bot/versions"}, {"POST", "/api/client/v1/agents/support-bot/versions"},
		{"GET", "/api/client/v1/agents/support-bot/versions/1"}, {"POST", "/api/client/v1/responses"},
		{"POST", "/api/client/v1/agents/responses"}, {"POST", "/v1/responses"},
		{"GET", "/api/client/v1/responses/" + conv["support-bot"]}, {"GET", "/v1/responses/" + conv["support-bot"]},
		{"GET", "/api/client/v1/models"}, {"GET", "/api/client/v1/models/support-bot"},
	} {
		status, body, _ := g.Do(c.method, c.path, "", nil)
		var e struct {
			Error struct{ Type, Message string }
		}
		if status != 401 || json.Unmarshal(body, &e) != nil || e.Error.Type != "authentication_error" {
			t.Errorf("%s %s without a key: %d %s", c.method, c.path, status, body)
		}
	}
}
