package app

import (
	"fmt"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"regexp"
	"strings"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// idPattern is what a job or partition id must look like: it becomes a
// segment of object keys and state keys.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckRequest applies the spec's defaults and reports every problem of a
// request at once as errkind.Invalid: such a message is dropped to the
// dead-letter topic, since delivering it again cannot help.
func CheckRequest(req *job.ExtractRequest) error {
	var p []string
	switch {
	case req.JobID == "":
		p = append(p, "job_id is empty")
	case !idPattern.MatchString(req.JobID):
		p = append(p, fmt.Sprintf("job_id %q is not a job id (letters, digits, '.', '_' and '-', at most 128)", req.JobID))
	}
	switch {
	case req.Partition.ID == "":
		p = append(p, "partition.id is empty")
	case !idPattern.MatchString(req.Partition.ID):
		p = append(p, fmt.Sprintf("partition.id %q is not a partition id such as p000", req.Partition.ID))
	}
	for i, s := range req.Partition.Schemas {
		if s == "" {
			p = append(p, fmt.Sprintf("partition.schemas[%d] is empty", i))
		}
	}
	if r := req.Partition.Range; r != nil {
		if len(req.Partition.Schemas) != 1 {
			p = append(p, fmt.Sprintf("partition.range is set with %d schemas; a range cuts exactly one schema", len(req.Partition.Schemas)))
		}
		if err := (connector.TableRange{From: r.From, Before: r.Before}).Check(); err != nil {
			p = append(p, "partition.range: "+err.Error())
		}
	}
	if req.Attempt < 1 {
		p = append(p, fmt.Sprintf("attempt is %d; attempts count from 1", req.Attempt))
	}
	req.Spec.Normalize()
	if err := req.Spec.Validate(); err != nil {
		p = append(p, "spec: "+err.Error())
	}
	if len(p) > 0 {
		return errkind.New(errkind.Invalid, "invalid extract request: "+strings.Join(p, "; "))
	}
	return nil
}
