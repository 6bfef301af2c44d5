package limits

import (
	"context"
	"errors"
	"testing"
	"time"
)

// slotBackend is a backend whose admission, like a Redis script whose
// reply the client stopped waiting for, takes the request's slot and
// then reports the caller's cancellation.
type slotBackend struct{ held map[string]bool }

func (b *slotBackend) Admit(ctx context.Context, req *Request) (Answer, error) {
	if !req.Peek {
		b.held[req.Lease] = true
	}
	if err := ctx.Err(); err != nil {
		return Answer{}, err
	}
	return Answer{Admitted: true, Refused: -1, States: make([]State, len(req.Rules)), Now: time.Unix(0, 0)}, nil
}
func (b *slotBackend) Renew(context.Context, []Held, time.Duration) error { return nil }
func (b *slotBackend) Settle(_ context.Context, s *Settlement) error {
	delete(b.held, s.Lease)
	return nil
}
func (b *slotBackend) Close() error { return nil }

// TestAdmitCallerCancelled: a client that goes away while its request is
// being admitted is not a limits outage. Found in review: the Limiter
// treated the caller's context.Canceled as the backend being unreachable,
// so it logged an outage, admitted the request "unchecked" (or, with
// on_error deny, refused it with a 503 limits_unavailable) and never
// released what the backend took under the lease (a concurrency slot held
// until the lease's TTL).
func TestAdmitCallerCancelled(t *testing.T) {
	for _, deny := range []bool{false, true} {
		b := &slotBackend{held: map[string]bool{}}
		l := New(b, Options{Deny: deny})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d, err := l.Admit(ctx, []Rule{{Scope: "key:k", Kind: Concurrent, Max: 1}}, Cost{})
		if l.down.Load() {
			t.Errorf("deny=%v: a caller's cancellation marked the limits backend down", deny)
		}
		if errors.Is(err, ErrUnavailable) || (d != nil && d.Unchecked) {
			t.Errorf("deny=%v: a caller's cancellation was answered as a backend outage: decision %+v, err %v", deny, d, err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("deny=%v: err = %v, want context.Canceled", deny, err)
		}
		if len(b.held) != 0 {
			t.Errorf("deny=%v: the backend still holds %d lease(s) nobody will settle", deny, len(b.held))
		}
		_ = l.Close()
	}
}
