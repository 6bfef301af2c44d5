package adapters

import "slices"

// Orchestration patterns of an agent (Agent.Pattern): how it runs its
// sub-agents. The runtime implements them (engine/orchestrate.go).
const (
	// PatternSingle is a plain agent: its own tool loop, no sub-agents.
	PatternSingle = "single"
	// PatternSequential runs the sub-agents in order, each receiving the
	// previous one's output, then the agent answers from the chain.
	PatternSequential = "sequential"
	// PatternParallel runs the sub-agents concurrently, then the agent
	// synthesises their answers.
	PatternParallel = "parallel"
	// PatternHierarchical gives the agent its sub-agents as tools: it
	// delegates to them as it sees fit, within its iteration bound.
	PatternHierarchical = "hierarchical"
)

// Patterns lists the orchestration patterns.
var Patterns = []string{PatternSingle, PatternSequential, PatternParallel, PatternHierarchical}

// Orchestrates reports whether the agent runs sub-agents.
func (a *Agent) Orchestrates() bool {
	return a.Pattern != "" && a.Pattern != PatternSingle
}

// AllowsProject reports whether p's key may use project: every project
// of its tenant when the key is not limited to some.
func (p *Principal) AllowsProject(project string) bool {
	return len(p.Projects) == 0 || slices.Contains(p.Projects, project)
}

// VisibleToPrincipal reports whether p may use the agent: it is visible
// to p's tenant, and, when it belongs to a project, p's key may use that
// project.
func (a *Agent) VisibleToPrincipal(p *Principal) bool {
	return a.VisibleTo(p.Tenant) && (a.Project == "" || p.AllowsProject(a.Project))
}

// InProject reports whether the agent can be used in project: it belongs
// to that project, or to none (the tenant's or the operator's agents,
// shared by every project).
func (a *Agent) InProject(project string) bool {
	return a.Project == "" || a.Project == project
}
