// Command extractor reads catalog metadata from source databases into Arrow batches.
package main

import "github.com/secure-agent/secure-agent/libs/bootstrap"

func main() {
	bootstrap.Main(bootstrap.Spec{Name: "extractor", DefaultAppPort: 6002, AnswerProbes: true})
}
