package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves agentgate's operator endpoints on Caddy's admin
// listener (never on the public one):
//
//	POST   /agentgate/keys        {"tenant","tier","email","projects"} → {"id","key",…}
//	GET    /agentgate/keys        → [{"id","tenant","tier","email","prefix","created_at"}]
//	DELETE /agentgate/keys/{id}
//
// Caddy rebuilds the admin server before it provisions apps, so handlers
// find the running agentgate app at request time.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.agentgate", New: func() caddy.Module { return new(adminAPI) }}
}

// Routes implements caddy.AdminRouter.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/agentgate/keys", Handler: caddy.AdminHandlerFunc(handleKeys)},
		{Pattern: "/agentgate/keys/", Handler: caddy.AdminHandlerFunc(handleKey)},
	}
}

func activeApp() (*App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("agentgate")
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("agentgate is not running in the current config")}
	}
	return v.(*App), nil
}

// keyView is a key as the admin API shows it: never the secret or hash.
type keyView struct {
	ID       string    `json:"id"`
	Key      string    `json:"key,omitempty"`
	Tenant   string    `json:"tenant"`
	Tier     string    `json:"tier"`
	Email    string    `json:"email,omitempty"`
	Projects []string  `json:"projects,omitempty"`
	Prefix   string    `json:"prefix"`
	Created  time.Time `json:"created_at"`
	// Declared keys come from the configuration and cannot be revoked
	// through the API.
	Declared bool `json:"declared,omitempty"`
}

func viewOf(k *state.APIKey, declared bool) keyView {
	return keyView{ID: k.ID, Tenant: k.Tenant, Tier: k.Tier, Email: k.Email, Projects: k.Projects,
		Prefix: k.Prefix, Created: k.Created, Declared: declared}
}

type createKeyRequest struct {
	Tenant   string   `json:"tenant"`
	Tier     string   `json:"tier"`
	Email    string   `json:"email"`
	Projects []string `json:"projects"`
}

func handleKeys(w http.ResponseWriter, r *http.Request) error {
	app, err := activeApp()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		keys, err := app.keys.list(r.Context())
		if err != nil {
			return err
		}
		out := make([]keyView, 0, len(keys))
		for _, k := range keys {
			out = append(out, viewOf(k, strings.HasPrefix(k.ID, "cfg_")))
		}
		return writeAdminJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var req createKeyRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding request: %v", err)}
			}
		}
		if req.Tenant == "" {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("tenant is required")}
		}
		if req.Tier == "" {
			req.Tier = "free"
		}
		secret, rec, err := app.keys.createKey(r.Context(), req.Tenant, req.Tier, req.Email, req.Projects, time.Now())
		if err != nil {
			return err
		}
		v := viewOf(rec, false)
		v.Key = secret
		return writeAdminJSON(w, http.StatusCreated, v)
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

func handleKey(w http.ResponseWriter, r *http.Request) error {
	app, err := activeApp()
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/agentgate/keys/")
	if id == "" || strings.Contains(id, "/") {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no such key")}
	}
	switch r.Method {
	case http.MethodGet:
		k, err := app.backend.store.GetKey(r.Context(), id)
		if errors.Is(err, state.ErrNotFound) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("key %s not found", id)}
		}
		if err != nil {
			return err
		}
		return writeAdminJSON(w, http.StatusOK, viewOf(k, false))
	case http.MethodDelete:
		if strings.HasPrefix(id, "cfg_") {
			return caddy.APIError{HTTPStatus: http.StatusConflict, Err: errors.New("key comes from the configuration; remove it there and reload")}
		}
		err := app.backend.store.DeleteKey(r.Context(), id)
		if errors.Is(err, state.ErrNotFound) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("key %s not found", id)}
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guard.
var _ caddy.AdminRouter = adminAPI{}
