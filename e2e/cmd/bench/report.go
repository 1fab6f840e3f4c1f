package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// rssLine lists every process's peak RSS, by name.
func rssLine(peaks map[string]int64) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(peaks)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", n, mib(peaks[n])))
	}
	return strings.Join(parts, ", ") + " (MiB)"
}

// Targets from the extractor and scale issues; reported, not asserted.
const (
	targetRatio      = 1.5
	targetPeakRSSMiB = 256
)

type line struct {
	Case           string           `json:"case"`
	Bench          string           `json:"bench"`
	Engine         string           `json:"engine"`
	Floor          string           `json:"floor"`
	Tables         int              `json:"tables"`
	Columns        int              `json:"columns"`
	Views          int              `json:"views"`
	Assets         map[string]int64 `json:"assets"`
	Queries        int              `json:"queries"`
	AgentctlMS     int64            `json:"agentctl_ms"`
	PsqlMS         int64            `json:"psql_ms"`
	Ratio          float64          `json:"ratio"`
	PeakRSSBytes   int64            `json:"peak_rss_bytes"`
	PeakRSSMiB     float64          `json:"peak_rss_mib"`
	AgentctlRunsMS []int64          `json:"agentctl_runs_ms"`
	PsqlRunsMS     []int64          `json:"psql_runs_ms"`
	PeakRSSOSBytes int64            `json:"peak_rss_os_bytes"`
	OutputBytes    int64            `json:"output_bytes"`
	TargetRatio    float64          `json:"target_ratio"`
	TargetRSSMiB   float64          `json:"target_peak_rss_mib"`
}

func report(stdout, stderr io.Writer, bc benchCase, sh shape, floor string, res results) error {
	a, p := median(res.agentctl), median(res.floor)
	ratio := float64(a) / float64(p)
	rssTarget := float64(targetPeakRSSMiB)
	l := line{
		Case: "extract", Bench: bc.name, Engine: bc.engine, Floor: floor, Tables: sh.tables, Columns: sh.columns, Views: sh.views,
		Assets: res.last.Counts, Queries: res.last.Queries,
		AgentctlMS: a.Milliseconds(), PsqlMS: p.Milliseconds(),
		Ratio:        round2(ratio),
		PeakRSSBytes: res.peakRSS, PeakRSSMiB: round2(mib(res.peakRSS)),
		AgentctlRunsMS: ms(res.agentctl), PsqlRunsMS: ms(res.floor),
		PeakRSSOSBytes: res.peakRSSOS, OutputBytes: res.last.Bytes,
		TargetRatio: targetRatio, TargetRSSMiB: rssTarget,
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\nbench: case %s, extraction: %d tables of %d columns, %d views (%s)\n", bc.name, sh.tables, sh.columns, sh.views, sh.label)
	fmt.Fprintf(stderr, "  assets:    %v\n", res.last.Counts)
	fmt.Fprintf(stderr, "  agentctl:  %s median of %v (%d queries, %.1f MiB of Arrow files)\n", a.Round(time.Millisecond), rounded(res.agentctl), res.last.Queries, mib(res.last.Bytes))
	fmt.Fprintf(stderr, "  %-10s %s median of %v (the same statements)\n", floor+":", p.Round(time.Millisecond), rounded(res.floor))
	fmt.Fprintf(stderr, "  ratio:     %.2f (target ≤ %.1f: %s)\n", ratio, targetRatio, verdict(ratio <= targetRatio))
	fmt.Fprintf(stderr, "  peak RSS:  %.1f MiB (kernel: %.1f MiB; target ≤ %.0f MiB: %s)\n",
		mib(res.peakRSS), mib(res.peakRSSOS), rssTarget, verdict(mib(res.peakRSS) <= rssTarget))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ms(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

type e2eLine struct {
	Case          string             `json:"case"`
	Bench         string             `json:"bench"`
	Engine        string             `json:"engine"`
	Tables        int                `json:"tables"`
	Columns       int                `json:"columns"`
	Views         int                `json:"views"`
	Assets        int64              `json:"assets"`
	Rows          map[string]int64   `json:"rows"`
	WallMS        int64              `json:"wall_ms"`
	PsqlMS        int64              `json:"psql_ms"`
	Ratio         float64            `json:"ratio"`
	RunsMS        []int64            `json:"runs_ms"`
	PeakRSSMiB    map[string]float64 `json:"peak_rss_mib"`
	MaxRSSProcess string             `json:"max_rss_process"`
	MaxRSSMiB     float64            `json:"max_rss_mib"`
	TargetRatio   float64            `json:"target_ratio"`
	TargetRSSMiB  float64            `json:"target_rss_mib"`
	// The full runs' output, and incremental runs of the unchanged source
	// beside the extraction alone (agentctl extract).
	ShippedBytes         int64   `json:"shipped_bytes"`
	NoChangeMS           int64   `json:"no_change_ms"`
	NoChangeRunsMS       []int64 `json:"no_change_runs_ms"`
	NoChangeShippedBytes int64   `json:"no_change_shipped_bytes"`
	NoChangeFiles        int     `json:"no_change_files"`
	ExtractMS            int64   `json:"extract_ms"`
	NoChangeRatio        float64 `json:"no_change_ratio"`
	TargetNoChangeRatio  float64 `json:"target_no_change_ratio"`
}

// reportPipeline prints the end-to-end case beside the psql baseline.
func reportPipeline(stdout, stderr io.Writer, bc benchCase, sh shape, floor string, res results, e e2eResult) error {
	w, p := median(e.runs), median(res.floor)
	ratio := float64(w) / float64(p)
	name, top := e.maxRSS()
	peaks := map[string]float64{}
	for n, b := range e.peakRSS {
		peaks[n] = round2(mib(b))
	}
	l := e2eLine{
		Case: "e2e", Bench: bc.name, Engine: bc.engine, Tables: sh.tables, Columns: sh.columns, Views: sh.views, Assets: e.assets, Rows: e.rows,
		WallMS: w.Milliseconds(), PsqlMS: p.Milliseconds(), Ratio: round2(ratio), RunsMS: ms(e.runs),
		PeakRSSMiB: peaks, MaxRSSProcess: name, MaxRSSMiB: round2(mib(top)),
		TargetRatio: bc.targetE2ERatio, TargetRSSMiB: targetE2ERSSMiB,
	}
	x, nc := median(res.agentctl), median(e.noChange)
	ncRatio := float64(nc) / float64(x)
	l.ShippedBytes, l.NoChangeMS, l.NoChangeRunsMS = e.shipped, nc.Milliseconds(), ms(e.noChange)
	l.NoChangeShippedBytes, l.NoChangeFiles, l.ExtractMS = e.noChangeShipped, e.noChangeFiles, x.Milliseconds()
	l.NoChangeRatio, l.TargetNoChangeRatio = round2(ncRatio), targetNoChangeRatio
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\nbench: case %s, end-to-end (submit → manifest through the local stack)\n", bc.name)
	fmt.Fprintf(stderr, "  job:       %s median of %v, %d assets\n", w.Round(time.Millisecond), rounded(e.runs), e.assets)
	fmt.Fprintf(stderr, "  %-10s %s (the floor above)\n", floor+":", p.Round(time.Millisecond))
	fmt.Fprintf(stderr, "  ratio:     %.2f (target ≤ %.2f: %s)\n", ratio, bc.targetE2ERatio, verdict(ratio <= bc.targetE2ERatio))
	fmt.Fprintf(stderr, "  peak RSS:  %s %.1f MiB is the largest process (target ≤ %d MiB each: %s)\n", name, mib(top), targetE2ERSSMiB, verdict(mib(top) <= targetE2ERSSMiB))
	fmt.Fprintf(stderr, "             %s\n", rssLine(e.peakRSS))
	fmt.Fprintf(stderr, "  shipped:   %d bytes (mode full)\n", e.shipped)
	fmt.Fprintf(stderr, "\nbench: incremental run of the unchanged source (submit → manifest)\n")
	fmt.Fprintf(stderr, "  job:       %s median of %v; shipped %d bytes in %d asset file(s) (full run: %d bytes)\n",
		nc.Round(time.Millisecond), rounded(e.noChange), e.noChangeShipped, e.noChangeFiles, e.shipped)
	fmt.Fprintf(stderr, "  extract:   %s (agentctl extract alone, above)\n", x.Round(time.Millisecond))
	fmt.Fprintf(stderr, "  ratio:     %.2f (target ≤ %.1f: %s)\n", ncRatio, targetNoChangeRatio, verdict(ncRatio <= targetNoChangeRatio))
	return nil
}

type replicasLine struct {
	Case       string             `json:"case"`
	Bench      string             `json:"bench"`
	Engine     string             `json:"engine"`
	Tables     int                `json:"tables"`
	Replicas   int                `json:"replicas"`
	WallMS     int64              `json:"wall_ms"`
	OneEachMS  int64              `json:"one_each_ms"`
	Ratio      float64            `json:"ratio"`
	RunsMS     []int64            `json:"runs_ms"`
	SameAssets bool               `json:"same_assets"`
	AssetSet   string             `json:"asset_set"`
	PeakRSSMiB map[string]float64 `json:"peak_rss_mib"`
}

// reportReplicas prints the end-to-end case on several replicas of every
// service beside one of each: the asset set must be the same, and the
// target is no slower.
func reportReplicas(stdout, stderr io.Writer, bc benchCase, sh shape, n int, one, many e2eResult) error {
	w, o := median(many.runs), median(one.runs)
	ratio := float64(w) / float64(o)
	peaks := map[string]float64{}
	for name, b := range many.peakRSS {
		peaks[name] = round2(mib(b))
	}
	same := one.assetSet != "" && one.assetSet == many.assetSet
	b, err := json.Marshal(replicasLine{Case: "e2e-replicas", Bench: bc.name, Engine: bc.engine, Tables: sh.tables, Replicas: n,
		WallMS: w.Milliseconds(), OneEachMS: o.Milliseconds(), Ratio: round2(ratio), RunsMS: ms(many.runs),
		SameAssets: same, AssetSet: many.assetSet, PeakRSSMiB: peaks})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	name, top := many.maxRSS()
	fmt.Fprintf(stderr, "\nbench: case %s, end-to-end on %d replicas of every service\n", bc.name, n)
	fmt.Fprintf(stderr, "  job:       %s median of %v (one of each: %s)\n", w.Round(time.Millisecond), rounded(many.runs), o.Round(time.Millisecond))
	fmt.Fprintf(stderr, "  ratio:     %.2f (target ≤ 1.00, no slower: %s)\n", ratio, verdict(ratio <= 1))
	fmt.Fprintf(stderr, "  assets:    %s (one of each: %s): %s\n", many.assetSet, one.assetSet, verdict(same))
	fmt.Fprintf(stderr, "  peak RSS:  %s %.1f MiB is the largest process\n", name, mib(top))
	if !same {
		return fmt.Errorf("case %s: the asset set on %d replicas (%s) differs from one of each (%s)", bc.name, n, many.assetSet, one.assetSet)
	}
	return nil
}
