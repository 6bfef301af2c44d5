package wire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

func TestEmitter(t *testing.T) {
	var got []adapters.EventType
	e := NewEmitter(func(ev adapters.Event) error {
		got = append(got, ev.Type)
		if ev.Type == adapters.EventStart && ev.Model != "req" {
			t.Errorf("Start names %q, want the requested model", ev.Model)
		}
		return nil
	}, "req")
	upstream := &adapters.Error{Kind: adapters.KindUpstream, Message: "x"}
	if err := e.Fail(upstream); err != upstream || len(got) != 0 {
		t.Fatalf("Fail before Start emitted %v / returned %v", got, err)
	}
	if err := e.Start(""); err != nil || !e.Started() {
		t.Fatal(err)
	}
	_ = e.Start("other") // once only
	if err := e.Fail(upstream); err != upstream {
		t.Fatalf("Fail returned %v", err)
	}
	if err := e.Fail(errors.New("ctx")); err == nil {
		t.Fatal("Fail dropped an error")
	}
	if err := e.Done("stop"); err != nil {
		t.Fatal(err)
	}
	want := []adapters.EventType{adapters.EventStart, adapters.EventError, adapters.EventDone}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestEmitterEmitFailure(t *testing.T) {
	boom := errors.New("client gone")
	e := NewEmitter(func(adapters.Event) error { return boom }, "m")
	if err := e.Start("m"); err != boom || !e.EmitFailed() {
		t.Fatalf("got %v, EmitFailed %v", err, e.EmitFailed())
	}
	upstream := &adapters.Error{Kind: adapters.KindUpstream}
	if err := e.Fail(upstream); err != upstream {
		t.Fatalf("Fail after an emit failure emitted again: %v", err)
	}
}

func TestEndStream(t *testing.T) {
	var n int
	e := NewEmitter(func(adapters.Event) error { n++; return nil }, "m")
	end := func() error { return e.Done("stop") }
	var ae *adapters.Error
	if err := e.EndStream(true, 200, end); !errors.As(err, &ae) || ae.Message != "upstream returned an empty stream" || n != 0 {
		t.Fatalf("empty stream: %v, %d events", err, n)
	}
	_ = e.Start("")
	if err := e.EndStream(false, 200, end); !errors.As(err, &ae) || ae.Message != "upstream stream ended before the answer was complete" || n != 2 {
		t.Fatalf("incomplete stream: %v, %d events", err, n)
	}
	if err := e.EndStream(true, 200, end); err != nil || n != 3 {
		t.Fatalf("complete stream: %v, %d events", err, n)
	}
}
