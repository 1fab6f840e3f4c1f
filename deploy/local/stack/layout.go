package stack

import "fmt"

// Layout is where a stack's parts listen and what each sidecar loads. A
// running Stack has one; tests that start the stack through the devstack
// binary build one with NewLayout to find it.
type Layout struct {
	ports      Ports
	components []Component
}

// NewLayout plans the ports from base and reads the profile's components.
func NewLayout(root, profile string, base int) (Layout, error) {
	ports, err := PlanPorts(base)
	if err != nil {
		return Layout{}, err
	}
	// Only the variable names matter for validation; a zero Stack has them.
	comps, err := validateComponents(componentsDir(root, profile), (&Stack{}).componentEnv())
	if err != nil {
		return Layout{}, err
	}
	return Layout{ports: ports, components: comps}, nil
}

// Ports is the port plan.
func (l Layout) Ports() Ports { return l.ports }

// NATSURL is the stack's NATS address (local profile).
func (l Layout) NATSURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", l.ports.NATS) }

// SidecarURL is the HTTP API base of app's daprd.
func (l Layout) SidecarURL(app string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", l.ports.App[app].DaprHTTP)
}

// AppURL is the HTTP base of app itself.
func (l Layout) AppURL(app string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", l.ports.App[app].App)
}

// ComponentsFor lists the components app's sidecar is expected to load.
func (l Layout) ComponentsFor(app string) []Component {
	var out []Component
	for _, c := range l.components {
		if c.loadedBy(app) {
			out = append(out, c)
		}
	}
	return out
}
