package wire

import (
	"errors"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// TestForwardUnreachable: a passed-through call to an upstream that
// refuses the connection fails as upstream_unavailable, as a model call
// does, not as the caller giving up.
func TestForwardUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	c := NewOptions("test", adapters.ProviderConfig{}, time.Second).Client(time.Minute, errTestTimeout, nil)
	defer c.CloseIdleConnections()
	resp, err := c.Forward(closed+"/v1", httptest.NewRequest("GET", "/v1/files", nil))
	var ae *adapters.Error
	if resp != nil || !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable {
		t.Fatalf("forward to a closed port: %v, %v; want an unavailable *adapters.Error", resp, err)
	}
}
