//go:build tools

// Package tools pins etcd (go.etcd.io/etcd/server/v3, whose root package is
// the etcd command) for ../build.sh.
package tools

import _ "go.etcd.io/etcd/server/v3"
