// Package otelcollector holds the example OpenTelemetry Collector
// configurations (collector.yaml: Datadog; collector-otlp.yaml: any OTLP
// backend) and checks them without a collector binary: the contrib
// distribution with the Datadog exporter is too large to build in a test.
// The checks are the collector's own rules for the service section (every
// pipeline's components are defined, connectors join two pipelines, every
// defined component is used), that the OTLP receiver listens where the
// apps and daprd send by default, and that no secret is written inline.
package otelcollector
