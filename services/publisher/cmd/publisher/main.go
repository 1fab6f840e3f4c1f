// Command publisher verifies, compacts and uploads batches and writes each job's manifest.
package main

import "github.com/secure-agent/secure-agent/libs/bootstrap"

func main() {
	bootstrap.Main(bootstrap.Spec{Name: "publisher", DefaultAppPort: 6003, AnswerProbes: true})
}
