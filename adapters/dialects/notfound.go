package dialects

import (
	"net/http"

	"github.com/agentgate/agentgate/adapters"
)

// NotFounder is implemented by dialects that answer, in their own error
// shape, the requests under their paths that nothing serves: no route of
// any dialect, and no handler after agentgate's in the site (the example
// Caddyfile leaves /v1/ to agentgate, so an unknown /v1/ path gets
// OpenAI's JSON 404, not plain text).
type NotFounder interface {
	// NotFound returns the 404 to answer r with, or nil when r is not
	// under the dialect's paths.
	NotFound(r *http.Request) *adapters.Error
}
