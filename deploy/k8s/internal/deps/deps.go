// Package deps pins the libraries the chart tests use (temporary while the graph is resolved).
package deps

import (
	_ "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	_ "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	_ "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	_ "github.com/dapr/dapr/pkg/injector/patcher"
	_ "github.com/dapr/dapr/pkg/scopes"
	_ "github.com/dapr/components-contrib/metadata"
	_ "github.com/evanphx/json-patch/v5"
	_ "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	_ "github.com/stretchr/testify/require"
	_ "helm.sh/helm/v4/pkg/action"
	_ "helm.sh/helm/v4/pkg/chart/v2/loader"
	_ "helm.sh/helm/v4/pkg/engine"
	_ "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/pod-security-admission/policy"
)
