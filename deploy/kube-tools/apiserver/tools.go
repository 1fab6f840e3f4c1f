//go:build tools

// Package tools pins kube-apiserver (k8s.io/kubernetes) for ../build.sh.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
