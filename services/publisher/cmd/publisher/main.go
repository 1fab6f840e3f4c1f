// Command publisher verifies, compacts and uploads batches and writes each job's manifest.
package main

import (
	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/services/publisher/internal/service"
)

func main() { bootstrap.Main(service.Spec()) }
