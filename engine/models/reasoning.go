package models

import (
	"strconv"

	"github.com/agentgate/agentgate/adapters"
)

// DefaultReasoningEffort is asked for when an agent reasons but names no
// effort.
const DefaultReasoningEffort = "medium"

// Reasoning is the thinking call asks of the model: the agent's default
// unless the call overrides it; nil when off.
func Reasoning(call *adapters.Call) *adapters.Reasoning {
	agent := call.Agent
	reasoning := agent.Reasoning
	if call.Reasoning != nil {
		reasoning = *call.Reasoning
	}
	if !reasoning {
		return nil
	}
	effort := call.ReasoningEffort
	if effort == "" {
		effort = agent.ReasoningEffort
	}
	if effort == "" {
		effort = DefaultReasoningEffort
	}
	return &adapters.Reasoning{Effort: effort, BudgetTokens: call.ReasoningBudget}
}

// ReasoningStepsInstruction is appended to the system prompt of an agent
// that bounds its reasoning steps when the model it calls cannot think
// natively: the bounded reasoning is asked for explicitly instead.
func ReasoningStepsInstruction(minSteps, maxSteps int) string {
	minSteps = max(minSteps, 1)
	if maxSteps < minSteps {
		maxSteps = minSteps
	}
	steps := "between " + strconv.Itoa(minSteps) + " and " + strconv.Itoa(maxSteps) + " numbered steps"
	if minSteps == maxSteps {
		steps = "exactly " + strconv.Itoa(minSteps) + " numbered steps"
	}
	return "Before answering, reason step by step in " + steps +
		" (\"Step 1: …\", \"Step 2: …\"), then give your final answer after a line reading \"Answer:\"."
}
