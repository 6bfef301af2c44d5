package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// The memory manager: after a turn of an agent with semantic or
// procedural memory, one model call reads the exchange and the related
// memories the end user already has, and answers which durable facts and
// standing instructions to remember, and which older ones the new ones
// replace (they are deleted).

// Bounds of one extraction.
const (
	maxKnown      = 20  // known memories shown to the manager
	maxExtracted  = 10  // items of each kind it may add
	maxItemBytes  = 500 // bytes of one item
	extractTokens = 1024
	maxExchange   = 4000 // bytes of each side of the exchange shown
)

// ManagerPrompt begins the memory manager's system prompt, so its calls
// can be told from an agent's in an upstream's logs.
const ManagerPrompt = "You are the memory manager of an AI assistant."

// ExtractionSystem is the memory manager's system prompt for an agent that
// keeps facts (semantic), instructions (procedural) or both.
func ExtractionSystem(facts, instructions bool) string {
	var b strings.Builder
	b.WriteString(ManagerPrompt + " You read the latest exchange between the assistant and its user " +
		"and decide what the assistant should remember in later conversations with this user.\n\nExtract:\n")
	if facts {
		b.WriteString(`- "facts": durable facts about the user (name, situation, preferences, plans) or their domain that will still be useful later. ` +
			"Not small talk, not the question itself, nothing that only matters for this exchange.\n")
	}
	if instructions {
		b.WriteString(`- "instructions": standing instructions or preferences the user gave about how the assistant should behave from now on ` +
			`(for example "Always answer in French").` + "\n")
	}
	b.WriteString("\nWrite each item as one short, self-contained sentence in the third person (\"The user's name is Ada.\"). " +
		"Known memories are listed with numbers: do not repeat them. When a new item updates or contradicts a known one, put the known one's number in \"replaces\". " +
		"Put in \"forget\" the numbers of known memories the user asked to forget or that are now false.\n\n" +
		"Answer with one JSON object and nothing else:\n{")
	if facts {
		b.WriteString(`"facts": [{"content": "...", "replaces": []}], `)
	}
	if instructions {
		b.WriteString(`"instructions": [{"content": "...", "replaces": []}], `)
	}
	b.WriteString(`"forget": []}` + "\nUse empty lists when there is nothing to remember.")
	return b.String()
}

// ExtractionPrompt is the manager's user message: the known memories,
// numbered from 1, and the exchange.
func ExtractionPrompt(known []*state.Memory, asked, answered string) string {
	var b strings.Builder
	b.WriteString("Known memories:\n")
	if len(known) == 0 {
		b.WriteString("(none)\n")
	}
	for i, it := range known {
		kind := "fact"
		if it.Kind == state.MemoryProcedural {
			kind = "instruction"
		}
		b.WriteString(strconv.Itoa(i+1) + ". (" + kind + ") " + oneLine(it.Content) + "\n")
	}
	b.WriteString("\nLatest exchange:\nUser: " + clip(strings.TrimSpace(asked), maxExchange) +
		"\nAssistant: " + clip(strings.TrimSpace(answered), maxExchange))
	return b.String()
}

// Extraction is what the memory manager answered.
type Extraction struct {
	Facts        []ExtractedItem
	Instructions []ExtractedItem
	// Forget are the numbers of known memories to delete.
	Forget []int
}

// ExtractedItem is one new memory and the known ones it replaces.
type ExtractedItem struct {
	Content  string
	Replaces []int
}

// ParseExtraction reads the manager's answer leniently: the first JSON
// object in it (code fences and prose around it are ignored), items as
// objects or plain strings, numbers as numbers or strings ("3", "#3").
// An answer without a JSON object is an empty extraction.
func ParseExtraction(text string) Extraction {
	var out Extraction
	start, end := strings.IndexByte(text, '{'), strings.LastIndexByte(text, '}')
	if start < 0 || end < start {
		return out
	}
	var raw struct {
		Facts        []json.RawMessage `json:"facts"`
		Instructions []json.RawMessage `json:"instructions"`
		Forget       []json.RawMessage `json:"forget"`
	}
	if json.Unmarshal([]byte(text[start:end+1]), &raw) != nil {
		return out
	}
	out.Facts = items(raw.Facts)
	out.Instructions = items(raw.Instructions)
	out.Forget = refs(raw.Forget)
	return out
}

func items(raw []json.RawMessage) []ExtractedItem {
	var out []ExtractedItem
	for _, r := range raw {
		var it ExtractedItem
		r = bytes.TrimSpace(r)
		if len(r) > 0 && r[0] == '"' {
			if json.Unmarshal(r, &it.Content) != nil {
				continue
			}
		} else {
			var o struct {
				Content  string            `json:"content"`
				Replaces []json.RawMessage `json:"replaces"`
			}
			if json.Unmarshal(r, &o) != nil {
				continue
			}
			it.Content, it.Replaces = o.Content, refs(o.Replaces)
		}
		it.Content = strings.TrimSpace(oneLine(it.Content))
		if it.Content == "" {
			continue
		}
		out = append(out, it)
		if len(out) == maxExtracted {
			break
		}
	}
	return out
}

func refs(raw []json.RawMessage) []int {
	var out []int
	for _, r := range raw {
		var n json.Number
		var s string
		switch {
		case json.Unmarshal(r, &n) == nil:
			s = n.String()
		case json.Unmarshal(r, &s) == nil:
			s = strings.TrimPrefix(strings.TrimSpace(s), "#")
		default:
			continue
		}
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	return out
}

// extract runs the memory manager on t: it returns the new items and
// deletes the known ones they replace.
func (m *Manager) extract(ctx context.Context, t *Turn, now time.Time) ([]*state.Memory, error) {
	mc := t.Agent.Memory
	key := agentKey{t.Principal.Tenant, t.Agent.ID}
	idx, err := m.s.index(ctx, key)
	if err != nil {
		return nil, err
	}
	// What the manager may update: items it wrote for this end user.
	mine := func(it *state.Memory) bool {
		return it.UserID == t.UserID && it.Source == SourceManager &&
			(mc.Semantic && it.Kind == state.MemorySemantic || mc.Procedural && it.Kind == state.MemoryProcedural)
	}
	var known []*state.Memory
	for _, h := range idx.Search(Query{Text: t.Asked + "\n" + t.Answered, K: maxKnown, Filter: mine}) {
		known = append(known, h.Item)
	}
	if mc.Procedural && len(known) < maxKnown {
		seen := map[string]bool{}
		for _, it := range known {
			seen[it.ID] = true
		}
		for _, it := range idx.List(func(it *state.Memory) bool { return mine(it) && it.Kind == state.MemoryProcedural }) {
			if len(known) == maxKnown {
				break
			}
			if !seen[it.ID] {
				known = append(known, it)
			}
		}
	}
	req := &adapters.Request{
		Model:    m.managerModel(t.Agent),
		System:   ExtractionSystem(mc.Semantic, mc.Procedural),
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, ExtractionPrompt(known, t.Asked, t.Answered))},
	}
	temp, maxTok := 0.0, extractTokens
	req.Temperature, req.MaxTokens = &temp, &maxTok
	text, err := m.models.Complete(ctx, CallInfo{Principal: t.Principal, Agent: t.Agent, SessionID: t.SessionID, ParentID: t.RunID}, req)
	if err != nil {
		return nil, err
	}
	ex := ParseExtraction(text)
	replaced := map[string]bool{}
	ref := func(n int) {
		if n >= 1 && n <= len(known) {
			replaced[known[n-1].ID] = true
		}
	}
	for _, n := range ex.Forget {
		ref(n)
	}
	// Items the end user already has, by normalized content, so a fact
	// stated twice is kept once.
	have := map[string]bool{}
	for _, it := range idx.List(func(it *state.Memory) bool { return it.UserID == t.UserID }) {
		have[it.Kind+"\x00"+normalize(it.Content)] = true
	}
	var out []*state.Memory
	add := func(kind string, list []ExtractedItem) {
		for _, e := range list {
			for _, n := range e.Replaces {
				ref(n)
			}
			k := kind + "\x00" + normalize(e.Content)
			if have[k] {
				continue
			}
			have[k] = true
			out = append(out, &state.Memory{ID: NewID(), Tenant: t.Principal.Tenant, AgentID: t.Agent.ID, UserID: t.UserID,
				SessionID: t.SessionID, Kind: kind, Content: clip(e.Content, maxItemBytes), Source: SourceManager,
				Metadata: map[string]string{"run_id": t.RunID}, Created: now, Updated: now})
		}
	}
	if mc.Semantic {
		add(state.MemorySemantic, ex.Facts)
	}
	if mc.Procedural {
		add(state.MemoryProcedural, ex.Instructions)
	}
	if len(replaced) > 0 {
		if _, err := m.s.clear(ctx, key, Filter{IDs: replaced}, now); err != nil {
			return out, err
		}
	}
	return out, nil
}

// normalize is content as duplicates compare: lower case, single spaces,
// no final period.
func normalize(s string) string {
	return strings.TrimRight(strings.Join(strings.Fields(strings.ToLower(s)), " "), ".!")
}
