package app

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/objectstore"
)

// idPattern bounds job, partition and run ids: they become parts of state
// keys and object keys, so they must be single, harmless path segments.
var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	shaPattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	bindingName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	prefixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
)

// ValidateJobID refuses ids that cannot name a job's records and folders.
func ValidateJobID(id string) error {
	if !idPattern.MatchString(id) {
		return errkind.New(errkind.Invalid, fmt.Sprintf("job id %q is not a job id (letters, digits, '.', '_' or '-', at most 128)", id))
	}
	return nil
}

func checkID(problems *[]string, what, id string) {
	if !idPattern.MatchString(id) {
		*problems = append(*problems, fmt.Sprintf("%s %q is not an id (letters, digits, '.', '_' or '-', at most 128)", what, id))
	}
}

// checkFile checks one staged file's announcement: it must belong to the
// job, partition and run given and point inside that run's staging folder,
// so an event can never make the publisher read another job's objects.
func checkFile(problems *[]string, f job.BatchReady, jobID, partition, run string) {
	add := func(format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf("file %s-%d: ", f.Kind, f.Seq)+fmt.Sprintf(format, args...))
	}
	if f.JobID != jobID || f.Partition != partition || f.Run != run {
		add("belongs to job %q partition %q run %q, not to job %q partition %q run %q", f.JobID, f.Partition, f.Run, jobID, partition, run)
	}
	if _, err := model.ParseKind(string(f.Kind)); err != nil {
		add("%v", err)
	}
	if f.Seq < 0 {
		add("seq %d is negative", f.Seq)
	}
	folder := job.StagingPrefix(jobID) + "/" + partition + "/" + run + "/"
	if objectstore.CheckKey(f.Key) != nil || !strings.HasPrefix(f.Key, folder) || strings.Contains(f.Key, "..") {
		add("key %q is not a staging key under %s", f.Key, folder)
	}
	if !shaPattern.MatchString(f.SHA256) {
		add("sha256 %q is not 64 lowercase hex digits", f.SHA256)
	}
	if f.Rows < 0 || f.Bytes < 0 {
		add("rows and bytes must not be negative")
	}
}

func invalid(what string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errkind.New(errkind.Invalid, what+" is invalid: "+strings.Join(problems, "; "))
}

// validateBatch checks a BatchReady event before anything is read for it.
func validateBatch(b job.BatchReady) error {
	var p []string
	checkID(&p, "job_id", b.JobID)
	checkID(&p, "partition", b.Partition)
	checkID(&p, "run", b.Run)
	if len(p) == 0 {
		checkFile(&p, b, b.JobID, b.Partition, b.Run)
	}
	return invalid("batch-ready event", p)
}

// validatePartitionDone checks a successful PartitionDone: ids, every file
// of its run, no file listed twice, and its destinations.
func validatePartitionDone(ev job.PartitionDone) error {
	var p []string
	checkID(&p, "job_id", ev.JobID)
	checkID(&p, "partition", ev.Partition)
	checkID(&p, "run", ev.Run)
	if len(p) == 0 {
		seen := map[string]bool{}
		for _, f := range ev.Files {
			checkFile(&p, f, ev.JobID, ev.Partition, ev.Run)
			id := fmt.Sprintf("%s-%d", f.Kind, f.Seq)
			if seen[id] || seen["key:"+f.Key] {
				p = append(p, fmt.Sprintf("file %s (%s) is listed twice", id, f.Key))
			}
			seen[id], seen["key:"+f.Key] = true, true
		}
	}
	if err := checkDestinations(ev.Destinations); err != nil {
		p = append(p, err.Error())
	}
	return invalid("partition-done event", p)
}

// destinations applies the spec's defaults: no destination means the
// default binding, no prefix the default prefix.
func destinations(ds []job.Destination) []job.Destination {
	if len(ds) == 0 {
		return []job.Destination{{Binding: job.DefaultDestination, Prefix: job.DefaultPrefix}}
	}
	out := make([]job.Destination, len(ds))
	for i, d := range ds {
		if d.Prefix == "" {
			d.Prefix = job.DefaultPrefix
		}
		out[i] = d
	}
	return out
}

func checkDestinations(ds []job.Destination) error {
	var p []string
	seen := map[string]bool{}
	for i, d := range destinations(ds) {
		if !bindingName.MatchString(d.Binding) {
			p = append(p, fmt.Sprintf("destinations[%d].binding %q is not an output binding name", i, d.Binding))
		}
		if !prefixPattern.MatchString(d.Prefix) || strings.Contains(d.Prefix, "..") {
			p = append(p, fmt.Sprintf("destinations[%d].prefix %q is not a clean relative path", i, d.Prefix))
		}
		if d.JobID != "" && (d.Binding != job.DestinationControlPlane || !idPattern.MatchString(d.JobID)) {
			p = append(p, fmt.Sprintf("destinations[%d].job_id %q is only for binding %s and must be a job id (letters, digits, '.', '_' or '-')",
				i, d.JobID, job.DestinationControlPlane))
		}
		if seen[d.Binding] {
			p = append(p, fmt.Sprintf("destinations[%d].binding %q is listed twice", i, d.Binding))
		}
		seen[d.Binding] = true
	}
	if len(p) > 0 {
		return errors.New(strings.Join(p, "; "))
	}
	return nil
}
