package ports

import (
	"context"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// MetadataReader is the publisher's own sidecar metadata (daprclient.Sidecar).
type MetadataReader interface {
	Metadata(ctx context.Context) (*daprclient.Metadata, error)
}

// Destinations is the answer of GET /v1/destinations: where a job may send
// its files. The orchestrator checks a spec against it at submission.
type Destinations struct {
	Bindings []string `json:"bindings"`
	Staging  string   `json:"staging"`
}

// RegisterDestinations adds GET /v1/destinations: every output binding the
// publisher's sidecar loaded except staging, and the control plane when the
// publisher has a link to it.
func RegisterDestinations(f *fiber.App, md MetadataReader, staging string, controlPlane bool) {
	f.Get("/v1/destinations", func(c *fiber.Ctx) error {
		m, err := md.Metadata(c.UserContext())
		if err != nil {
			return errkind.Wrap(errkind.Transient, err, "read the publisher sidecar's components")
		}
		out := Destinations{Bindings: []string{}, Staging: staging}
		for _, comp := range m.Components {
			if strings.HasPrefix(comp.Type, "bindings.") && comp.Name != staging {
				out.Bindings = append(out.Bindings, comp.Name)
			}
		}
		if controlPlane {
			out.Bindings = append(out.Bindings, job.DestinationControlPlane)
		}
		sort.Strings(out.Bindings)
		return c.JSON(out)
	})
}
