package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// stagedCheck is the outcome of comparing a staged object with its
// announcement. problem is empty when the object matches.
type stagedCheck struct {
	data    []byte
	actual  string // sha256 of what is staged; empty when missing
	missing bool
	problem string
}

// checkStaged fetches a staged file and hashes it. Only a failure to reach
// the store is an error (worth retrying); a missing or different object is
// a problem of the data, described for the user.
func (s *Service) checkStaged(ctx context.Context, f job.BatchReady) (stagedCheck, error) {
	data, err := s.staging.Get(ctx, f.Key)
	if errkind.Of(err) == errkind.NotFound {
		return stagedCheck{missing: true, problem: fmt.Sprintf("staged file %s is missing (expected sha256 %s)", f.Key, f.SHA256)}, nil
	}
	if err != nil {
		return stagedCheck{}, err
	}
	sum := sha256.Sum256(data)
	c := stagedCheck{data: data, actual: hex.EncodeToString(sum[:])}
	if c.actual != f.SHA256 {
		c.problem = fmt.Sprintf("staged file %s has sha256 %s but its batch event announced %s", f.Key, c.actual, f.SHA256)
	}
	return c, nil
}

func (c stagedCheck) result() string {
	switch {
	case c.missing:
		return "missing"
	case c.problem != "":
		return "mismatched"
	default:
		return "verified"
	}
}
