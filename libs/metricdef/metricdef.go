// Package metricdef is the one list of the Prometheus metrics secure-agent
// exports: name, type, help, labels, buckets and which apps export it.
//
// Every package builds its collectors from a Def here, so the metric
// reference in docs/observability.md (generated from All by this package's
// test, run with -update) and the checks on dashboards, alert rules and
// Datadog assets (deploy/observability) read the same names the code
// registers: a renamed metric or label fails a test instead of leaving an
// empty panel.
package metricdef

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Type is a metric's Prometheus type.
type Type string

// The types used here.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// The apps, as in the "service" label of secure_agent_build_info.
const (
	Orchestrator = "orchestrator"
	Extractor    = "extractor"
	Publisher    = "publisher"
	Health       = "health"
)

// AllApps is every app.
var AllApps = []string{Orchestrator, Extractor, Publisher, Health}

// Def describes one metric.
type Def struct {
	Name string
	Type Type
	Help string
	// Labels are the variable labels, in order. Never an unbounded value
	// (a job id, a table name): only values from a small known set or
	// from configuration (a connection, a binding, a destination).
	Labels []string
	// Buckets of a histogram (seconds or bytes, as the name says).
	Buckets []float64
	// Apps that export it.
	Apps []string
	// Group is the section of the reference it appears under.
	Group string
	// ControlPlane marks metrics that only move with a control plane
	// configured (CONTROLPLANE_URL); the series exist either way.
	ControlPlane bool
}

func (d Def) counterOpts() prometheus.CounterOpts {
	return prometheus.CounterOpts{Name: d.Name, Help: d.Help}
}

func (d Def) mustBe(t Type) {
	if d.Type != t {
		// A programming error in this package's list, caught by its tests.
		panic(fmt.Sprintf("metricdef: %s is a %s, not a %s", d.Name, d.Type, t))
	}
}

// CounterVec builds the counter (d must be a Counter).
func (d Def) CounterVec() *prometheus.CounterVec {
	d.mustBe(Counter)
	return prometheus.NewCounterVec(d.counterOpts(), d.Labels)
}

// Counter builds a counter without labels.
func (d Def) Counter() prometheus.Counter {
	d.mustBe(Counter)
	return prometheus.NewCounter(d.counterOpts())
}

// GaugeVec builds the gauge (d must be a Gauge).
func (d Def) GaugeVec() *prometheus.GaugeVec {
	d.mustBe(Gauge)
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, d.Labels)
}

// Gauge builds a gauge without labels.
func (d Def) Gauge() prometheus.Gauge {
	d.mustBe(Gauge)
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: d.Name, Help: d.Help})
}

// GaugeFunc builds a gauge without labels whose value f reports.
func (d Def) GaugeFunc(f func() float64) prometheus.GaugeFunc {
	d.mustBe(Gauge)
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, f)
}

// HistogramVec builds the histogram (d must be a Histogram).
func (d Def) HistogramVec() *prometheus.HistogramVec {
	d.mustBe(Histogram)
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.Buckets}, d.Labels)
}

// Register registers cs on reg; a nil reg registers nothing (the
// collectors still work, unexported), so constructors stay nil-safe.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}

// ByName returns the definition of name.
func ByName(name string) (Def, bool) {
	for _, d := range All() {
		if d.Name == name {
			return d, true
		}
	}
	return Def{}, false
}
