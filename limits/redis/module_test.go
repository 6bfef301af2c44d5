package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/agentgate/agentgate/limits/redis"
)

// TestModuleProvision: the URL's placeholders are expanded when the
// module starts; a URL that is not one is an error that never quotes it
// (it may hold a password); the settings reach the Limiter's options.
func TestModuleProvision(t *testing.T) {
	t.Setenv("TEST_LIMITS_REDIS_URL", "redis://:s3cret-pw@cache.internal:6380/2")
	for _, tc := range []struct {
		name     string
		m        redis.Module
		location string
		err      string
		deny     bool
		lease    time.Duration
	}{
		{name: "placeholder", m: redis.Module{URL: "{env.TEST_LIMITS_REDIS_URL}", OnError: "deny", LeaseTime: caddy.Duration(5 * time.Second)},
			location: "redis cache.internal:6380/2 agentgate:", deny: true, lease: 5 * time.Second},
		{name: "defaults", m: redis.Module{URL: "redis://127.0.0.1:6379", KeyPrefix: "gw:"}, location: "redis 127.0.0.1:6379/0 gw:"},
		{name: "empty", m: redis.Module{URL: "{env.TEST_LIMITS_UNSET}"}, err: "a URL is required"},
		{name: "not a URL", m: redis.Module{URL: "http://:s3cret-pw@cache"}, err: "not a redis://"},
		{name: "on_error", m: redis.Module{URL: "redis://cache", OnError: "ignore"}, err: "on_error must be allow or deny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			err := m.Provision(caddy.Context{Context: context.Background()})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %v, want one saying %q and never the password", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Location() != tc.location || strings.Contains(m.Location(), "s3cret") {
				t.Errorf("location %q, want %q", m.Location(), tc.location)
			}
			if o := m.LimiterOptions(); o.Deny != tc.deny || o.LeaseTTL != tc.lease {
				t.Errorf("options %+v", o)
			}
		})
	}
}
