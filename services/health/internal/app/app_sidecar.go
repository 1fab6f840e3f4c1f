package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
)

// appSidecarReport invokes the app's GET /v1/sidecar through Dapr and
// returns its report, or why there is none.
func (s *Status) appSidecarReport(ctx context.Context, id string) (*bootstrap.SidecarReport, string) {
	res, err := s.sidecar.Invoke(ctx, id, http.MethodGet, bootstrap.SidecarRoute)
	if err != nil {
		return nil, err.Error()
	}
	switch res.Status {
	case http.StatusOK:
	case http.StatusForbidden:
		return nil, fmt.Sprintf("GET %s answered 403 through service invocation: %s's access-control policy must allow health to call GET %s",
			bootstrap.SidecarRoute, id, bootstrap.SidecarRoute)
	case http.StatusNotFound:
		return nil, fmt.Sprintf("GET %s answered 404 through service invocation: %s runs a version without the sidecar report; upgrade it",
			bootstrap.SidecarRoute, id)
	default:
		return nil, fmt.Sprintf("GET %s answered %d through service invocation: %s", bootstrap.SidecarRoute, res.Status, excerpt(res.Body))
	}
	var rep bootstrap.SidecarReport
	if err := json.Unmarshal(res.Body, &rep); err != nil || rep.AppID == "" {
		return nil, fmt.Sprintf("GET %s answered something that is not a sidecar report: %s", bootstrap.SidecarRoute, excerpt(res.Body))
	}
	return &rep, ""
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
