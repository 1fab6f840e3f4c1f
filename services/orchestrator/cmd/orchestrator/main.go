// Command orchestrator accepts jobs and runs each one as a durable Dapr Workflow.
package main

import "github.com/secure-agent/secure-agent/libs/bootstrap"

func main() {
	bootstrap.Main(bootstrap.Spec{Name: "orchestrator", DefaultAppPort: 6001, AnswerProbes: true})
}
