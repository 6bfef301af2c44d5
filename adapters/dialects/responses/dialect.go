// Package responses serves the Responses dialect: the client API of
// /api/client/v1 (agents by key, agent versions, and agent invocation in
// the OpenAI Responses format) and the same Responses surface at
// /v1/responses, so an OpenAI SDK pointed at agentgate's /v1 gets Chat
// Completions and Responses from one base URL.
//
//	GET  /api/client/v1/agents[?status=active|inactive|draft]   {"agents":[…]}
//	GET  /api/client/v1/agents/{agentKey}                      {"agent":{…}}
//	POST /api/client/v1/agents/{agentKey}/versions             publish the working copy: 201 {"version":n,…}
//	GET  /api/client/v1/agents/{agentKey}/versions             {"versions":[…]}, oldest first
//	GET  /api/client/v1/agents/{agentKey}/versions/{n}         {"version":n,…}
//	POST /api/client/v1/responses, /api/client/v1/agents/responses, /v1/responses
//	GET  /api/client/v1/responses/{id}, /v1/responses/{id}     that response
//	DELETE …/responses/{id}                                     {"id","object":"response","deleted":true}
//	GET  …/responses/{id}/input_items                           its context and input, a cursor list
//	/v1/conversations…, /api/client/v1/conversations…            the Conversations API (conversations.go)
//	GET  /api/client/v1/models[/{id}]                          agents and routed models, OpenAI's list format
//	/api/client/v1/knowledge…                                  knowledge documents (see knowledge.go)
//
// Conversations. Every response is a node of a conversation tree
// (tree.go): its id is resp_{conversationId}, as the document says, where
// the conversation id names the conversation that ends with that response
// (conv_… for nodes this dialect makes). previous_response_id adds a
// child to that node, so each response is addressable on its own,
// continuing from an earlier one branches, and a branch never sees
// another's turns. previous_response_id may also name another dialect's
// conversation with the agent (resp_{session id}) or a Conversations API
// conversation (resp_{conversation id}): the new response branches off it
// as it stands. store: false makes a response nothing can fetch or
// continue. A node remembers its agent and the agent version it ran at;
// instructions add to the agent's system prompt for one request and are
// never carried over. The model sees the agent's history_turns most
// recent responses of the branch.
//
// Versions. Without version, a request runs the agent's latest published
// version, or its working copy when none is published; version pins one.
// A continued conversation keeps the version it ran at unless the request
// names another, which it then keeps.
//
// Errors are OpenAI error objects with the document's statuses: 400 for
// bad input (the field is named in param) and agents that are not
// active, 401, 404 for unknown agents, versions and conversations, and 500
// for failures while the agent runs (upstream errors keep their code).
// Rate limits and quotas are 429s, as every dialect's.
package responses

import (
	"net/http"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/adapters/dialects/openai"
)

// Name is the dialect's registered name.
const Name = "responses"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the Responses client API.
type Dialect struct {
	env *dialects.Env
}

// Prefix is the base path of the client API.
const Prefix = "/api/client/v1"

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	routes := []dialects.Route{
		{Pattern: "GET " + Prefix + "/agents", Handler: d.listAgents},
		{Pattern: "GET " + Prefix + "/agents/{agentKey}", Handler: d.getAgent},
		{Pattern: "GET " + Prefix + "/agents/{agentKey}/versions", Handler: d.listVersions},
		{Pattern: "POST " + Prefix + "/agents/{agentKey}/versions", Handler: d.publishVersion},
		{Pattern: "GET " + Prefix + "/agents/{agentKey}/versions/{version}", Handler: d.getVersion},
		{Pattern: "POST " + Prefix + "/responses", Handler: d.create, CallsModel: true, Target: dialects.TargetField("model")},
		{Pattern: "POST " + Prefix + "/agents/responses", Handler: d.create, CallsModel: true, Target: dialects.TargetField("model")},
		{Pattern: "GET " + Prefix + "/responses/{id}", Handler: d.retrieve},
		{Pattern: "GET " + Prefix + "/models", Handler: d.listModels},
		{Pattern: "GET " + Prefix + "/models/{id...}", Handler: d.getModel},
		{Pattern: "POST /v1/responses", Handler: d.create, CallsModel: true, Target: dialects.TargetField("model")},
		{Pattern: "GET /v1/responses/{id}", Handler: d.retrieve},
		{Pattern: "DELETE /v1/responses/{id}", Handler: d.deleteResponse},
		{Pattern: "GET /v1/responses/{id}/input_items", Handler: d.inputItems},
		{Pattern: "DELETE " + Prefix + "/responses/{id}", Handler: d.deleteResponse},
		{Pattern: "GET " + Prefix + "/responses/{id}/input_items", Handler: d.inputItems},
		{Pattern: "GET " + Prefix + "/knowledge", Handler: d.listSources},
		{Pattern: "POST " + Prefix + "/knowledge/{source}/documents", Handler: d.addDocument, CallsModel: true},
		// GET …/knowledge/{source}/documents and …/knowledge/documents/{id}
		// overlap, which net/http refuses; one pattern serves both.
		{Pattern: "GET " + Prefix + "/knowledge/{a}/{b}", Handler: d.getKnowledge},
		{Pattern: "DELETE " + Prefix + "/knowledge/documents/{id}", Handler: d.deleteDocument},
	}
	for _, base := range []string{"/v1", Prefix} {
		routes = append(routes,
			dialects.Route{Pattern: "POST " + base + "/conversations", Handler: d.createConversation},
			dialects.Route{Pattern: "GET " + base + "/conversations/{id}", Handler: d.getConversation},
			dialects.Route{Pattern: "POST " + base + "/conversations/{id}", Handler: d.updateConversation},
			dialects.Route{Pattern: "DELETE " + base + "/conversations/{id}", Handler: d.deleteConversation},
			dialects.Route{Pattern: "GET " + base + "/conversations/{id}/items", Handler: d.listConversationItems},
			dialects.Route{Pattern: "POST " + base + "/conversations/{id}/items", Handler: d.addConversationItems},
			dialects.Route{Pattern: "GET " + base + "/conversations/{id}/items/{item_id}", Handler: d.getConversationItem},
			dialects.Route{Pattern: "DELETE " + base + "/conversations/{id}/items/{item_id}", Handler: d.deleteConversationItem},
		)
	}
	return routes
}

// WriteError implements dialects.Dialect with OpenAI's error object, so
// the SDKs raise the matching exception, and the statuses of the
// document's table: failures while the agent runs (upstream errors,
// timeouts, unavailable providers) are 500s, keeping their code.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	openai.WriteError(w, docError(err))
}

// docError maps err to the status the document gives it.
func docError(err *adapters.Error) *adapters.Error {
	switch err.Kind {
	case adapters.KindUpstream, adapters.KindUnavailable, adapters.KindTimeout:
		e := *err
		e.Code, e.Kind = err.CodeOrDefault(), adapters.KindInternal
		return &e
	}
	return err
}
