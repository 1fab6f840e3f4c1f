// Package adapters implements the orchestrator's ports to the outside
// world over Dapr: job records, the job index and connection slots in a
// state store, the workflow engine, service invocation of the extractor
// and publisher, and pub/sub for extract requests.
package adapters
