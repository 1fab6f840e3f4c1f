package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ControlPlaneLocal runs the reference control plane (e2e/controlplane,
// bin/controlplane) next to the stack and links the agent to it.
const ControlPlaneLocal = "local"

// ControlPlanes are the values of Options.ControlPlane ("" is none).
var ControlPlanes = []string{"", ControlPlaneLocal}

// ControlPlaneAgentID is the agent id the stack's services report.
const ControlPlaneAgentID = "devstack"

// startReferenceControlPlane starts bin/controlplane on loopback with the
// client id and secret of the stack's secret file, so the agent's OAuth
// credentials come from its secret store like in production.
func (s *Stack) startReferenceControlPlane(ctx context.Context) error {
	id, secret, err := s.controlPlaneCredentials()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir("controlplane"), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", s.dir("controlplane"), err)
	}
	ca := s.dir("controlplane", "ca.pem")
	_ = os.Remove(ca) // a new CA each start; wait for this run's
	s.progress("starting the reference control plane on https://127.0.0.1:%d (admin http://127.0.0.1:%d)", s.ports.ControlPlaneAPI, s.ports.ControlPlaneAdmin)
	if _, err := s.spawn("controlplane", s.bin("controlplane"), []string{
		"-addr", "127.0.0.1:" + strconv.Itoa(s.ports.ControlPlaneAPI),
		"-admin-addr", "127.0.0.1:" + strconv.Itoa(s.ports.ControlPlaneAdmin),
		"-client-id", id, "-ca-file", ca,
	}, []string{"CONTROLPLANE_CLIENT_SECRET=" + secret}); err != nil {
		return err
	}
	if err := s.waitHTTP(ctx, "controlplane", s.ControlPlaneAdminURL()+"/jobs"); err != nil {
		return err
	}
	return s.poll(ctx, "controlplane CA file", func(context.Context) error {
		_, err := os.Stat(ca)
		return err
	})
}

// controlPlaneCredentials reads the OAuth client id and secret from the
// stack's secret file; the values never leave this process but for the
// reference control plane's environment.
func (s *Stack) controlPlaneCredentials() (id, secret string, err error) {
	b, err := os.ReadFile(s.dir("secrets.json"))
	if err != nil {
		return "", "", fmt.Errorf("read the stack's secret file: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", fmt.Errorf("the stack's secret file %s is not a JSON object: %w", s.dir("secrets.json"), err)
	}
	id, _ = m["controlplane-client-id"].(string)
	secret, _ = m["controlplane-client-secret"].(string)
	if id == "" || secret == "" {
		return "", "", errors.New("CONTROLPLANE=local needs controlplane-client-id and controlplane-client-secret in " +
			s.dir("secrets.json") + " (see deploy/local/secrets.sample.json)")
	}
	return id, secret, nil
}

// controlPlaneEnv links an app to the reference control plane; empty
// without one.
func (s *Stack) controlPlaneEnv() []string {
	if s.opts.ControlPlane != ControlPlaneLocal {
		return nil
	}
	return []string{
		"CONTROLPLANE_URL=" + s.ControlPlaneURL(),
		fmt.Sprintf("CONTROLPLANE_TOKEN_URL=https://127.0.0.1:%d/auth/realms/default/protocol/openid-connect/token", s.ports.ControlPlaneAPI),
		"CONTROLPLANE_CA_FILE=" + s.dir("controlplane", "ca.pem"),
		"AGENT_ID=" + ControlPlaneAgentID,
		"SHIP_JOB_LOGS=true",
		// Livelier than production's 30s, to watch on a laptop.
		"HEARTBEAT_INTERVAL=10s",
	}
}

// ControlPlaneURL is the reference control plane's agent API base.
func (l Layout) ControlPlaneURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d/api/agent/v1", l.ports.ControlPlaneAPI)
}

// ControlPlaneAdminURL is the reference control plane's admin API.
func (l Layout) ControlPlaneAdminURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", l.ports.ControlPlaneAdmin)
}
