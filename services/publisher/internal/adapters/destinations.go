package adapters

import (
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/publisher/internal/app"
)

// Destinations opens the app's destination stores: the control plane's
// ingest API under the reserved binding name job.DestinationControlPlane,
// Dapr output bindings under every other name.
type Destinations struct {
	bindings     *BindingStores
	controlPlane *ControlPlaneStore // nil: no control-plane link
}

// NewDestinations serves bindings, and the control plane when cp is not
// nil.
func NewDestinations(bindings *BindingStores, cp *ControlPlaneStore) *Destinations {
	return &Destinations{bindings: bindings, controlPlane: cp}
}

// Open implements app.Destinations.
func (d *Destinations) Open(binding string) (app.DestinationStore, error) {
	if binding != job.DestinationControlPlane {
		return d.bindings.Store(binding), nil
	}
	if d.controlPlane == nil {
		return nil, errkind.New(errkind.Invalid, "destination "+job.DestinationControlPlane+" needs the publisher's control-plane link, "+
			"which is not configured: set CONTROLPLANE_URL and CONTROLPLANE_TOKEN_URL on the publisher "+
			"(and the OAuth client id and secret in its CONTROLPLANE_SECRET_STORE), or use an output binding as the destination")
	}
	return d.controlPlane, nil
}
