{{/*
Datadog Autodiscovery annotations (v2: ad.datadoghq.com/<container>.checks,
Agent 7.36+) for one app pod: (dict "root" $ "app" "extractor").

One OpenMetrics check per container whose metrics the node Agent can reach
at the pod's IP (%%host%%), configured from files/datadog/checks.json,
which deploy/observability/datadog generates with the dashboard and
monitors that query the metrics these checks submit. daprd serves its
metrics on all interfaces (--metrics-listen-address 0.0.0.0, the
injector's default) at dapr.metricsPort. The app serves /metrics on its
HTTP port, which listens on the pod's loopback only (APP_HOST 127.0.0.1):
a check for it could not connect, so there is none.
*/}}
{{- define "sa.datadogAnnotations" -}}
{{- $root := .root -}}
{{- $checks := $root.Files.Get "files/datadog/checks.json" | fromJson -}}
{{- $inst := deepCopy (get $checks "daprd") -}}
{{- if not $inst -}}
{{- fail "files/datadog/checks.json has no daprd check: regenerate it (deploy/observability: go test ./datadog -update)" -}}
{{- end -}}
{{- $_ := set $inst "openmetrics_endpoint" (print "http://%%host%%:" (int $root.Values.dapr.metricsPort) "/metrics") -}}
{{- $_ = set $inst "tags" (concat (list (print "app:" .app) "container:daprd") $root.Values.datadog.tags) -}}
ad.datadoghq.com/daprd.checks: {{ dict "openmetrics" (dict "init_config" (dict) "instances" (list $inst)) | toJson | quote }}
{{- end -}}
