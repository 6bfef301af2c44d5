// Package e2e holds agentgate's end-to-end tests: a real Caddy with the
// agentgate modules, in-process, in front of local upstreams that speak
// the providers' wire formats, driven by official SDKs and plain HTTP.
package e2e
