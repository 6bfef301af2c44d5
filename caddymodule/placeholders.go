package caddymodule

// placeholderPrefix starts every agentgate placeholder.
const placeholderPrefix = "http.agentgate."

// placeholders lists the placeholders agentgate sets on every request
// through a dialect route, for Caddy's access logs (log_append), headers
// and any handler that expands placeholders. Values describe the request
// as far as it got: the identity after authentication, the agent, model
// and usage once a model answered (empty or 0 before), the outcome once
// it ended, which is when log_append and the access log read them.
var placeholders = []string{
	"{http.agentgate.dialect}",          // the dialect that served it: openai, egzora…
	"{http.agentgate.tenant}",           // the caller's tenant
	"{http.agentgate.key_id}",           // the caller's key id (not the secret)
	"{http.agentgate.tier}",             // the caller's key tier
	"{http.agentgate.agent}",            // the agent id that answered
	"{http.agentgate.model}",            // the upstream model that answered
	"{http.agentgate.provider}",         // the provider instance it was routed to
	"{http.agentgate.input_tokens}",     // usage, as the upstream reported it
	"{http.agentgate.output_tokens}",    //
	"{http.agentgate.reasoning_tokens}", // part of output_tokens
	"{http.agentgate.cached_tokens}",    // part of input_tokens
	"{http.agentgate.total_tokens}",     // input + output
	"{http.agentgate.cost_usd}",         // what the request's model calls cost, in dollars (those with a price; empty when none has one)
	"{http.agentgate.usage_estimated}",  // true when the gateway estimated the usage
	"{http.agentgate.ttft_ms}",          // time to first token of the upstream call, ms
	"{http.agentgate.upstream_ms}",      // time spent in upstream calls, ms
	"{http.agentgate.stream}",           // true for a streamed answer (SSE, or a streamed JSON array)
	"{http.agentgate.outcome}",          // ok, client_error, rate_limited… as in agentgate_requests_total
	"{http.agentgate.error}",            // why it failed: the error and its cause ("" when it did not)
}

// placeholder resolves the {http.agentgate.*} placeholders of x's request.
// Values are typed (numbers, booleans) so JSON logs keep their types.
func (x *exchange) placeholder(key string) (any, bool) {
	if len(key) <= len(placeholderPrefix) || key[:len(placeholderPrefix)] != placeholderPrefix {
		return nil, false
	}
	name := key[len(placeholderPrefix):]
	switch name {
	case "dialect":
		return x.dm.name, true
	case "tenant", "key_id", "tier":
		p := x.principal
		if p == nil {
			return "", true
		}
		switch name {
		case "tenant":
			return p.Tenant, true
		case "key_id":
			return p.KeyID, true
		}
		return p.Tier, true
	case "stream":
		return x.stream, true
	case "outcome":
		if !x.ended {
			return "", true
		}
		return x.result.String(), true
	case "error":
		return x.errorText(), true
	}
	snap := x.meter.Snapshot()
	switch name {
	case "agent":
		return snap.AgentID, true
	case "model":
		return snap.Model, true
	case "provider":
		return snap.Provider, true
	case "input_tokens":
		return snap.Usage.InputTokens, true
	case "output_tokens":
		return snap.Usage.OutputTokens, true
	case "reasoning_tokens":
		return snap.Usage.ReasoningTokens, true
	case "cached_tokens":
		return snap.Usage.CachedTokens, true
	case "total_tokens":
		return snap.Usage.Total(), true
	case "cost_usd":
		if snap.Calls == snap.Unpriced {
			return "", true
		}
		return snap.Cost.Dollars(), true
	case "usage_estimated":
		return snap.Usage.Estimated, true
	case "ttft_ms":
		return float64(snap.FirstByte) / 1e6, true
	case "upstream_ms":
		return float64(snap.Upstream) / 1e6, true
	}
	return nil, false
}
