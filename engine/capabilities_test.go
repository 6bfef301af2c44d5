package engine

import (
	"context"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
)

func TestCapabilitiesRefuseOrDrop(t *testing.T) {
	image := adapters.Message{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText, Text: "look"},
		{Type: adapters.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="}}}
	on := true
	for i, c := range []struct {
		lacks models.Capabilities
		call  adapters.Call
		param string // "" means accepted
		check func(*adapters.Request) bool
	}{
		{models.Capabilities{Images: true}, adapters.Call{Messages: []adapters.Message{image}}, "images", nil},
		{models.Capabilities{Images: true, Drop: true}, adapters.Call{Messages: []adapters.Message{image}}, "",
			func(r *adapters.Request) bool { return !r.Messages[0].HasImages() && r.Messages[0].Text() == "look" }},
		{models.Capabilities{Tools: true}, adapters.Call{ClientTools: []adapters.Tool{{Name: "f"}}}, "tools", nil},
		{models.Capabilities{Tools: true, Drop: true}, adapters.Call{ClientTools: []adapters.Tool{{Name: "f"}}}, "",
			func(r *adapters.Request) bool { return len(r.Tools) == 0 }},
		{models.Capabilities{Reasoning: true}, adapters.Call{Reasoning: &on}, "reasoning", nil},
		{models.Capabilities{Reasoning: true}, adapters.Call{}, "", func(r *adapters.Request) bool { return r.Reasoning == nil }},
	} {
		prov := newFake(reply("ok")...)
		rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov},
			Routes: []models.Route{{Pattern: "old-*", Provider: "p", Lacks: c.lacks}}})
		call := c.call
		call.Principal, call.Agent = tenantA, &adapters.Agent{ID: "a", Model: "old-model"}
		if call.Messages == nil {
			call.Messages = []adapters.Message{userMsg("hi")}
		}
		_, err := rt.Run(context.Background(), nil, &call, func(adapters.Event) error { return nil })
		if c.param != "" {
			wantError(t, err, adapters.KindInvalidRequest, "unsupported_"+c.param, c.param)
			if len(prov.Requests()) != 0 {
				t.Errorf("case %d: the upstream was called", i)
			}
			continue
		}
		if err != nil || !c.check(prov.LastRequest(t)) {
			t.Errorf("case %d: err %v, request %+v", i, err, prov.LastRequest(t))
		}
	}
}
