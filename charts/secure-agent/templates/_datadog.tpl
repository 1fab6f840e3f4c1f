{{/*
Datadog Autodiscovery annotations (v2: ad.datadoghq.com/<container>.checks,
Agent 7.36+) for one app pod: (dict "root" $ "app" "extractor").

One OpenMetrics check per container, at the pod's IP (%%host%%) where
the node Agent reaches it, configured from files/datadog/checks.json,
which deploy/observability/datadog generates with the dashboard and
monitors that query the metrics these checks submit: "app" for the app
container (its metrics listener, METRICS_ADDR, on metrics.port; its API
port stays on loopback) and "daprd" for the sidecar, which serves its
metrics on all interfaces (--metrics-listen-address 0.0.0.0, the
injector's default) at dapr.metricsPort.
*/}}
{{- define "sa.datadogAnnotations" -}}
{{- $root := .root -}}
{{- $checks := $root.Files.Get "files/datadog/checks.json" | fromJson -}}
{{- range $c := list (dict "check" "app" "container" .app "port" $root.Values.metrics.port) (dict "check" "daprd" "container" "daprd" "port" $root.Values.dapr.metricsPort) }}
{{- $inst := deepCopy (get $checks $c.check) -}}
{{- if not $inst -}}
{{- fail (printf "files/datadog/checks.json has no %s check: regenerate it (deploy/observability: go test ./datadog -update)" $c.check) -}}
{{- end -}}
{{- $_ := set $inst "openmetrics_endpoint" (print "http://%%host%%:" (int $c.port) "/metrics") -}}
{{- $_ = set $inst "tags" (concat (list (print "app:" $.app) (print "container:" $c.check)) $root.Values.datadog.tags) }}
ad.datadoghq.com/{{ $c.container }}.checks: {{ dict "openmetrics" (dict "init_config" (dict) "instances" (list $inst)) | toJson | quote }}
{{- end -}}
{{- end -}}
