package caddymodule

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// keyPrefix marks agentgate API keys, so leaked keys are recognisable
// by secret scanners.
const keyPrefix = "agk_"

// keyring authenticates API keys: the configuration's keys, held only in
// memory, and the store's, created through the admin API. Only SHA-256
// hashes are kept.
type keyring struct {
	store    state.Store
	declared map[[32]byte]*state.APIKey
}

// newKeyring builds the keyring of the configuration's keys cfg; it reads
// the store's keys once open gives it the store.
func newKeyring(cfg []KeyConfig, repl *caddy.Replacer, log *zap.Logger) (*keyring, error) {
	k := &keyring{declared: map[[32]byte]*state.APIKey{}}
	for i, kc := range cfg {
		secret := repl.ReplaceAll(kc.Key, "")
		if secret == "" {
			log.Warn("API key from the configuration is empty after expanding placeholders; skipped", zap.Int("index", i), zap.String("key", kc.Key))
			continue
		}
		if len(secret) < 16 {
			return nil, errors.New("keys: a configured API key must be at least 16 characters")
		}
		for j, p := range kc.Projects {
			if !adapters.ValidProject(p) {
				return nil, fmt.Errorf("keys[%d]: projects[%d]: must be %s, got %q", i, j, adapters.ProjectRule, p)
			}
		}
		h := sha256.Sum256([]byte(secret))
		tenant, tier := kc.Tenant, kc.Tier
		if tenant == "" {
			tenant = "default"
		}
		if tier == "" {
			tier = "pro"
		}
		k.declared[h] = &state.APIKey{ID: "cfg_" + hex.EncodeToString(h[:6]), Hash: h, Tenant: tenant, Tier: tier,
			Email: kc.Email, Projects: kc.Projects, Prefix: prefixOf(secret)}
	}
	return k, nil
}

// open gives k the store and records the declared keys in it: a declared
// key's creation time is when the store first saw it declared (now, for
// a key new to it).
func (k *keyring) open(ctx context.Context, store state.Store, now time.Time) error {
	k.store = store
	if len(k.declared) == 0 {
		return nil
	}
	ids := make([]string, 0, len(k.declared))
	for _, key := range k.declared {
		ids = append(ids, key.ID)
	}
	seen, err := store.DeclaredKeysSeen(ctx, ids, now)
	if err != nil {
		return fmt.Errorf("keys: recording the configuration's keys: %w", err)
	}
	for _, key := range k.declared {
		key.Created = seen[key.ID]
	}
	return nil
}

func (k *keyring) empty() bool {
	if len(k.declared) > 0 {
		return false
	}
	keys, err := k.store.ListKeys(context.Background())
	return err == nil && len(keys) == 0
}

// errNoKey and errBadKey are the two ways authentication fails.
var (
	errNoKey = &adapters.Error{Kind: adapters.KindUnauthenticated, Code: "missing_api_key",
		Message: "missing API key: send it as 'Authorization: Bearer <key>', 'X-API-Key: <key>' or 'x-goog-api-key: <key>'"}
	errBadKey = &adapters.Error{Kind: adapters.KindUnauthenticated, Code: "invalid_api_key",
		Message: "invalid API key"}
)

// authenticate returns the principal of r's API key.
func (k *keyring) authenticate(r *http.Request) (*adapters.Principal, error) {
	secret := requestKey(r)
	if secret == "" {
		return nil, errNoKey
	}
	h := sha256.Sum256([]byte(secret))
	key, ok := k.declared[h]
	if !ok {
		var err error
		key, err = k.store.KeyByHash(r.Context(), h)
		if errors.Is(err, state.ErrNotFound) {
			return nil, errBadKey
		}
		if err != nil {
			return nil, err
		}
	}
	// The lookup is by hash; compare again in constant time so no code
	// path branches on secret-dependent bytes.
	if subtle.ConstantTimeCompare(key.Hash[:], h[:]) != 1 {
		return nil, errBadKey
	}
	return &adapters.Principal{KeyID: key.ID, Tenant: key.Tenant, Tier: key.Tier, Email: key.Email, Projects: key.Projects}, nil
}

// requestKey reads the key from Authorization: Bearer, X-API-Key or
// x-goog-api-key (what the Google Gen AI SDKs send), or else from the
// "key" query parameter (what older Gemini clients send). A key in the
// query is always taken out of r's URL, whichever key authenticates, so
// nothing after authentication — agentgate's own logs, the
// {http.request.uri} placeholders, handlers after agentgate — sees it.
// Caddy's access log copies the request before any handler runs; the
// README shows the log filter that keeps the key out of it.
func requestKey(r *http.Request) string {
	query := takeQueryKey(r)
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
	}
	for _, name := range [...]string{"X-API-Key", "X-Goog-Api-Key"} {
		if k := strings.TrimSpace(r.Header.Get(name)); k != "" {
			return k
		}
	}
	return query
}

// takeQueryKey removes the "key" parameter from r's URL and returns its
// value ("" when absent). Only r's own copy of the URL changes; the rest
// of the query is kept as the client wrote it.
func takeQueryKey(r *http.Request) string {
	raw := r.URL.RawQuery
	if raw == "" {
		return ""
	}
	var key string
	kept := make([]string, 0, 4)
	for _, kv := range strings.Split(raw, "&") {
		name, value, _ := strings.Cut(kv, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == "key" {
			if v, err := url.QueryUnescape(value); err == nil && key == "" {
				key = strings.TrimSpace(v)
			}
			continue
		}
		kept = append(kept, kv)
	}
	r.URL.RawQuery = strings.Join(kept, "&")
	r.RequestURI = r.URL.RequestURI()
	return key
}

// newSecret returns a fresh random API key: 192 bits, base64url.
func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func prefixOf(secret string) string {
	if len(secret) > 8 {
		return secret[:8]
	}
	return secret
}

// createKey generates, stores and returns a new key; the secret is
// returned once and never stored.
func (k *keyring) createKey(ctx context.Context, tenant, tier, email string, projects []string, created time.Time) (string, *state.APIKey, error) {
	secret := newSecret()
	rec := &state.APIKey{ID: adapters.NewID("key_"), Hash: sha256.Sum256([]byte(secret)), Tenant: tenant, Tier: tier,
		Email: email, Projects: projects, Created: created.UTC(), Prefix: prefixOf(secret)}
	if err := k.store.PutKey(ctx, rec); err != nil {
		return "", nil, err
	}
	return secret, rec, nil
}

// get returns the key with id and whether it comes from the configuration.
func (k *keyring) get(ctx context.Context, id string) (*state.APIKey, bool, error) {
	for _, key := range k.declared {
		if key.ID == id {
			c := *key
			return &c, true, nil
		}
	}
	key, err := k.store.GetKey(ctx, id)
	return key, false, err
}

// list returns the configuration's keys, then the stored ones.
func (k *keyring) list(ctx context.Context) ([]*state.APIKey, error) {
	stored, err := k.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*state.APIKey, 0, len(k.declared)+len(stored))
	for _, key := range k.declared {
		out = append(out, key)
	}
	// The configuration's keys first, oldest first, in a stable order.
	slices.SortFunc(out, func(a, b *state.APIKey) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return append(out, stored...), nil
}
