{{/* The four apps, in start order. Their Dapr app ids are fixed. */}}
{{- define "sa.apps" -}}orchestrator extractor publisher health{{- end -}}

{{- define "sa.appPort" -}}
{{- get (dict "orchestrator" 6001 "extractor" 6002 "publisher" 6003 "health" 6004) . -}}
{{- end -}}

{{/* The access policy: files/policy.yaml, the one source (see its header). */}}
{{- define "sa.policy" -}}
{{- .Files.Get "files/policy.yaml" -}}
{{- end -}}

{{- define "sa.name" -}}secure-agent{{- end -}}

{{- define "sa.fullname" -}}
{{- if contains "secure-agent" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-secure-agent" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sa.labels" -}}
app.kubernetes.io/name: secure-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels selecting one app's pods: (dict "root" $ "app" "extractor"). */}}
{{- define "sa.selectorLabels" -}}
app.kubernetes.io/name: secure-agent
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .app }}
{{- end -}}

{{- define "sa.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/* An image reference: (dict "root" $ "image" "extractor"). */}}
{{- define "sa.image" -}}
{{- $v := .root.Values.image -}}
{{- $digest := get $v.digests .image -}}
{{- if $digest -}}
{{- printf "%s/%s:%s@%s" $v.registry .image (include "sa.tag" .root) $digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $v.registry .image (include "sa.tag" .root) -}}
{{- end -}}
{{- end -}}

{{- define "sa.sidecarImage" -}}
{{- if .Values.dapr.sidecarImage -}}
{{- .Values.dapr.sidecarImage -}}
{{- else -}}
{{- include "sa.image" (dict "root" . "image" "daprd") -}}
{{- end -}}
{{- end -}}

{{/* Names of the per-app token Secrets. */}}
{{- define "sa.apiTokenSecret" -}}{{ include "sa.fullname" .root }}-{{ .app }}-dapr-api-token{{- end -}}
{{- define "sa.appTokenSecret" -}}{{ include "sa.fullname" .root }}-{{ .app }}-app-token{{- end -}}
{{- define "sa.clientTokenSecret" -}}{{ include "sa.fullname" . }}-client-api-token{{- end -}}

{{/* A token Secret's value: kept across upgrades, random on install. */}}
{{- define "sa.tokenValue" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data "token") -}}
{{- index $existing.data "token" -}}
{{- else -}}
{{- randAlphaNum 64 | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Whether pods need the Kubernetes API (only the Kubernetes secret store). */}}
{{- define "sa.needsKubeAPI" -}}
{{- if eq .Values.secretStore.type "kubernetes" -}}true{{- end -}}
{{- end -}}

{{/* ServiceAccount annotations for workload identity. */}}
{{- define "sa.serviceAccountAnnotations" -}}
{{- $ss := .Values.secretStore -}}
{{- $os := .Values.objectStore -}}
{{- $role := "" -}}
{{- if and (eq $ss.type "aws") $ss.aws.roleArn -}}{{- $role = $ss.aws.roleArn -}}{{- end -}}
{{- if and (eq $os.type "s3") $os.s3.roleArn -}}{{- $role = $os.s3.roleArn -}}{{- end -}}
{{- if $role }}
eks.amazonaws.com/role-arn: {{ $role | quote }}
{{- end }}
{{- $azClient := "" -}}
{{- $azTenant := "" -}}
{{- if eq $ss.type "azure" -}}{{- $azClient = $ss.azure.clientId -}}{{- $azTenant = $ss.azure.tenantId -}}{{- end -}}
{{- if and (eq $os.type "azureblob") $os.azureblob.clientId -}}{{- $azClient = $os.azureblob.clientId -}}{{- $azTenant = $os.azureblob.tenantId -}}{{- end -}}
{{- if $azClient }}
azure.workload.identity/client-id: {{ $azClient | quote }}
{{- if $azTenant }}
azure.workload.identity/tenant-id: {{ $azTenant | quote }}
{{- end }}
{{- end }}
{{- $gsa := "" -}}
{{- if eq $ss.type "gcp" -}}{{- $gsa = $ss.gcp.serviceAccount -}}{{- end -}}
{{- if and (eq $os.type "gcs") $os.gcs.serviceAccount -}}{{- $gsa = $os.gcs.serviceAccount -}}{{- end -}}
{{- if $gsa }}
iam.gke.io/gcp-service-account: {{ $gsa | quote }}
{{- end }}
{{- end -}}

{{/* Pod labels for workload identity (Azure's webhook acts on this label). */}}
{{- define "sa.identityPodLabels" -}}
{{- if or (eq .Values.secretStore.type "azure") (eq .Values.objectStore.type "azureblob") }}
azure.workload.identity/use: "true"
{{- end }}
{{- end -}}

{{/* Conditional requirements, with the key and the fix in the message. */}}
{{- define "sa.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.secretStore.type "aws") (not $v.secretStore.aws.region) -}}
{{- fail "secretStore.aws.region is required when secretStore.type is aws: set it to the region of your Secrets Manager secrets" -}}
{{- end -}}
{{- if and (eq $v.secretStore.type "azure") (not $v.secretStore.azure.vaultName) -}}
{{- fail "secretStore.azure.vaultName is required when secretStore.type is azure: set it to your Key Vault's name" -}}
{{- end -}}
{{- if and (eq $v.secretStore.type "vault") (not $v.secretStore.vault.address) -}}
{{- fail "secretStore.vault.address is required when secretStore.type is vault: set it to your Vault's https:// address" -}}
{{- end -}}
{{- if and (eq $v.secretStore.type "gcp") (not $v.secretStore.gcp.projectId) -}}
{{- fail "secretStore.gcp.projectId is required when secretStore.type is gcp: set it to the project of your Secret Manager secrets" -}}
{{- end -}}
{{- if not $v.objectStore.staging.bucket -}}
{{- fail (printf "objectStore.staging.bucket is required: name the %s the extractor stages batches in" (ternary "container" "bucket" (eq $v.objectStore.type "azureblob"))) -}}
{{- end -}}
{{- if and (eq $v.objectStore.type "s3") (not $v.objectStore.s3.region) -}}
{{- fail "objectStore.s3.region is required when objectStore.type is s3: set it to your bucket's region" -}}
{{- end -}}
{{- if and (eq $v.objectStore.type "azureblob") (not $v.objectStore.azureblob.accountName) -}}
{{- fail "objectStore.azureblob.accountName is required when objectStore.type is azureblob: set it to your storage account's name" -}}
{{- end -}}
{{- if and (eq $v.objectStore.type "gcs") (not $v.objectStore.gcs.projectId) -}}
{{- fail "objectStore.gcs.projectId is required when objectStore.type is gcs: set it to your buckets' project" -}}
{{- end -}}
{{- if and $v.controlPlane.url (not $v.controlPlane.tokenUrl) -}}
{{- fail "controlPlane.tokenUrl is required when controlPlane.url is set: the OAuth2 token endpoint of your control plane" -}}
{{- end -}}
{{- if and (eq $v.stateStore.type "postgresql") (not $v.stateStore.postgresql.connectionStringSecret.name) -}}
{{- fail "stateStore.postgresql.connectionStringSecret.name is required when stateStore.type is postgresql: name the Secret holding the connection string" -}}
{{- end -}}
{{- if eq (int $v.metrics.port) (int $v.dapr.metricsPort) -}}
{{- fail (printf "metrics.port (%d) must differ from dapr.metricsPort (%d): the app's and its sidecar's metrics listen in the same pod" (int $v.metrics.port) (int $v.dapr.metricsPort)) -}}
{{- end -}}
{{- range $app := splitList " " (include "sa.apps" .) -}}
{{- $a := get $v $app -}}
{{- if le (int $a.terminationGracePeriodSeconds) (int $v.dapr.gracefulShutdownSeconds) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be greater than dapr.gracefulShutdownSeconds (%d): the sidecar must finish draining before the pod is killed" $app (int $a.terminationGracePeriodSeconds) (int $v.dapr.gracefulShutdownSeconds)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The JetStream stream of a topic (deploy/local/stack/broker.go streamName; ADR 0003). */}}
{{- define "sa.jetstreamStream" -}}
{{- printf "SA_%s" (. | replace "-" "_" | replace "." "_" | upper) -}}
{{- end -}}

{{/* Every topic, from the policy's publish scopes. */}}
{{- define "sa.topics" -}}
{{- $policy := include "sa.policy" . | fromYaml -}}
{{- $t := list -}}
{{- range $app, $p := $policy.apps -}}{{- $t = concat $t $p.publishes -}}{{- end -}}
{{- $t | uniq | sortAlpha | join " " -}}
{{- end -}}
