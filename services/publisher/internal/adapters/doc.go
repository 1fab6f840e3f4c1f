// Package adapters connects the publisher's use cases to Dapr: records in a
// state store, staged and uploaded files in output bindings.
package adapters
