package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
)

// embedProvider is a fake provider that also embeds: one dimension per
// letter.
type embedProvider struct {
	*fakeProvider
}

func (e embedProvider) Embed(_ context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	out := make([][]float32, len(inputs))
	for i, s := range inputs {
		v := make([]float32, 26)
		for _, r := range strings.ToLower(s) {
			if r >= 'a' && r <= 'z' {
				v[r-'a']++
			}
		}
		out[i] = v
	}
	return out, adapters.Usage{InputTokens: 3 * len(inputs)}, nil
}

func withUsage(evs []adapters.Event, in, out int) []adapters.Event {
	n := len(evs)
	return append(append(evs[:n-1:n-1], adapters.Event{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: in, OutputTokens: out}}), evs[n-1])
}

func flushMemory(t *testing.T, rt *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Knowledge().Memory().Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRunRecallsAndRemembers: a fact stated in one conversation is
// extracted after the run (a model call accounted as the run's child,
// dialect "memory"), and recalled into the system prompt of a run in
// another conversation of the same user, whose result lists it.
func TestRunRecallsAndRemembers(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{
		withUsage(reply("Nice to meet you, Ada."), 10, 5),
		withUsage(reply(`{"facts":["The user's favourite colour is teal."],"instructions":["Always answer in French."]}`), 50, 20),
		withUsage(reply("Teal."), 30, 2),
		reply(`{"facts":[]}`),
	}}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": embedProvider{prov}},
		Memory: memory.Options{EmbeddingModel: "emb"}})
	agent := &adapters.Agent{ID: "ag", Model: "m", SystemPrompt: "You help.",
		Memory: adapters.MemoryConfig{Semantic: true, Episodic: true, Procedural: true}}
	first, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Dialect: "test", Agent: agent, SessionID: "s1", UserID: "ada",
		Messages: []adapters.Message{userMsg("I'm Ada; my favourite colour is teal. Answer in French.")}}, (&collect{}).emit)
	if err != nil || len(first.MemoryAccessed) != 0 {
		t.Fatalf("first run: %+v %v", first, err)
	}
	flushMemory(t, rt)
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Dialect: "test", Agent: agent, SessionID: "s2", UserID: "ada",
		Messages: []adapters.Message{userMsg("What is my favourite colour?")}}, (&collect{}).emit)
	if err != nil {
		t.Fatal(err)
	}
	// The second run's memory step runs in the background once the run
	// has returned: wait for it, so the count does not race with it.
	flushMemory(t, rt)
	reqs := prov.Requests()
	if len(reqs) != 4 || !strings.HasPrefix(reqs[1].System, memory.ManagerPrompt) || !strings.HasPrefix(reqs[3].System, memory.ManagerPrompt) {
		t.Fatalf("%d model calls, want 4 (answer, memory manager, answer, memory manager)", len(reqs))
	}
	sys := reqs[2].System
	for _, want := range []string{"You help.\n\n## Long-term memory", "- Always answer in French.", "- The user's favourite colour is teal."} {
		if !strings.Contains(sys, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, sys)
		}
	}
	if len(res.MemoryAccessed) < 2 {
		t.Errorf("MemoryAccessed = %v", res.MemoryAccessed)
	}
	// Another user of the same agent recalls nothing of Ada's.
	prov.Then(reply("I don't know.")...)
	bob, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "s3", UserID: "bob",
		Messages: []adapters.Message{userMsg("What is my favourite colour?")}}, (&collect{}).emit)
	if err != nil || len(bob.MemoryAccessed) != 0 || strings.Contains(prov.LastRequest(t).System, "teal") {
		t.Fatalf("bob recalled %v: %s (%v)", bob.MemoryAccessed, prov.LastRequest(t).System, err)
	}
	flushMemory(t, rt)

	var manager, embeds int
	for _, r := range usageOf(t, rt, "tenant-a") {
		if r.Dialect != memory.Dialect {
			continue
		}
		if r.AgentID != "ag" || r.KeyID != "key_a" {
			t.Errorf("memory usage record %+v", r)
		}
		switch {
		case strings.HasPrefix(r.ID, "emb-"):
			embeds++
		case r.ParentID == first.RunID && r.InputTokens == 50 && r.OutputTokens == 20:
			manager++
		}
	}
	if manager != 1 || embeds == 0 {
		t.Errorf("memory usage records: %d manager calls of the first run, %d embeddings", manager, embeds)
	}
	st, err := rt.Knowledge().Memory().Stats(context.Background(), "tenant-a", "ag")
	if err != nil || st.Conversations != 3 || st.Responses != 3 {
		t.Errorf("stats %+v %v", st, err)
	}
}

// TestRunWithoutMemory: an agent without memory gets no recall section,
// and no memory-manager call follows its runs.
func TestRunWithoutMemory(t *testing.T) {
	prov := newFake(reply("hi")...)
	rt, _ := singleRuntime(t, prov)
	agent := &adapters.Agent{ID: "ag", Model: "m", SystemPrompt: "S"}
	for range 2 {
		if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "s", UserID: "u",
			Messages: []adapters.Message{userMsg("hello")}}, (&collect{}).emit); err != nil {
			t.Fatal(err)
		}
	}
	flushMemory(t, rt)
	if reqs := prov.Requests(); len(reqs) != 2 || reqs[1].System != "S" {
		t.Fatalf("%d calls, system %q", len(reqs), reqs[len(reqs)-1].System)
	}
}

func TestMemoryConfigErrors(t *testing.T) {
	providers := map[string]adapters.Provider{"a": newFake(), "b": newFake()}
	_, err := New(Config{Store: openStore(t), Providers: providers, Routes: []models.Route{{Pattern: "m", Provider: "a"}},
		Memory: memory.Options{EmbeddingModel: "nowhere"}})
	if err == nil || !strings.Contains(err.Error(), "embedding_model") {
		t.Fatalf("unrouted embedding model: %v", err)
	}
}
