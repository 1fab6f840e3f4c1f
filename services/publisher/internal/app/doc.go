// Package app holds the publisher's use cases: verify staged batches,
// compact and upload a partition's run, write a job's manifest last, and
// cancel a job. It knows the state store, the object stores and the broker
// only through the small interfaces in deps.go.
package app
