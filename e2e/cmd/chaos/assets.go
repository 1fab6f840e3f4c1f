package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// jobDir is where the local destination binding keeps a job's output.
func jobDir(s *stack.Stack, id string) string {
	return filepath.Join(s.DataDir(), "destination", job.DefaultPrefix, id)
}

// assets checks a job's output against its manifest and returns its
// sorted asset set ("kind qualified_name" lines), as the e2e tests do.
func assets(s *stack.Stack, id string) ([]string, error) {
	dir := jobDir(s, id)
	if err := model.VerifyDir(dir); err != nil {
		return nil, err
	}
	m, err := model.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if m.JobID != id {
		return nil, fmt.Errorf("the manifest in %s is job %s's", dir, m.JobID)
	}
	var out []string
	for _, f := range m.Files {
		err := model.ReadFile(filepath.Join(dir, f.Name), func(kind model.Kind, rec arrow.Record) error {
			qn := rec.Column(0).(*array.String)
			for i := 0; i < qn.Len(); i++ {
				out = append(out, string(kind)+" "+qn.Value(i))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// assetDiff says how got differs from want, or "" if it does not.
func assetDiff(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	count := func(l []string) map[string]int {
		m := map[string]int{}
		for _, a := range l {
			m[a]++
		}
		return m
	}
	w, g := count(want), count(got)
	var missing, extra []string
	for a, n := range w {
		for range n - g[a] {
			missing = append(missing, a)
		}
	}
	for a, n := range g {
		for range n - w[a] {
			extra = append(extra, a)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	msg := fmt.Sprintf("%d assets, the reference %d: %d missing, %d extra", len(got), len(want), len(missing), len(extra))
	if len(missing) > 0 {
		msg += "; e.g. missing " + strings.Join(missing[:min(3, len(missing))], ", ")
	}
	if len(extra) > 0 {
		msg += "; e.g. extra " + strings.Join(extra[:min(3, len(extra))], ", ")
	}
	return msg
}
