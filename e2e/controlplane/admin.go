package controlplane

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

// startAdmin serves the admin API: plain HTTP, loopback only, no auth,
// for driving the fake from a shell (`make run CONTROLPLANE=local`).
//
//	POST   /faults              {"kind","count","path_prefix","retry_after":"3s","status","delay":"500ms"}
//	GET    /faults              pending faults
//	DELETE /faults              clear pending faults
//	GET    /counters            requests per path, faults injected
//	POST   /tokens/expire       every issued token expires now
//	POST   /secret/rotate       {"secret","revoke_tokens"}
//	POST   /ratelimit           {"limit"}
//	POST   /jobs                body: a job spec → {"job_id"}
//	GET    /jobs                every job
//	GET    /jobs/{id}           job, statuses, files, manifest, logs
//	GET    /leases              every lease
//	POST   /leases/{id}/expire  the lease is lost now; its job is queued again
//	GET    /heartbeats          every heartbeat
func (s *Server) startAdmin(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("controlplane: admin address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("controlplane: admin address %q must be on loopback (it has no authentication)", addr)
	}
	s.adminLn, err = net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("controlplane: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /faults", s.adminInject)
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		out := []adminFault{}
		for _, f := range s.PendingFaults() {
			out = append(out, toAdminFault(f))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Counters()) })
	mux.HandleFunc("POST /tokens/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /secret/rotate", s.adminRotate)
	mux.HandleFunc("POST /ratelimit", s.adminRateLimit)
	mux.HandleFunc("POST /jobs", s.adminEnqueue)
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Jobs()) })
	mux.HandleFunc("GET /jobs/{id}", s.adminJob)
	mux.HandleFunc("GET /leases", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Leases()) })
	mux.HandleFunc("POST /leases/{id}/expire", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ExpireLease(r.PathValue("id")); err != nil {
			writeLeaseError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /witness", s.adminWitness)
	mux.HandleFunc("GET /catalog", s.adminCatalog)
	// The witness's own route without OAuth, for tests that play an
	// attacker holding the host's signing key.
	mux.HandleFunc("POST /witness/add-checkpoint", s.handleAddCheckpoint)
	mux.HandleFunc("GET /heartbeats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Heartbeats()) })
	s.adminSrv = &http.Server{Handler: withRequestID(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.adminSrv.Serve(s.adminLn) }()
	return nil
}

// adminFault is Fault with durations as strings ("3s", "500ms").
type adminFault struct {
	Kind       FaultKind `json:"kind"`
	Count      int       `json:"count"`
	PathPrefix string    `json:"path_prefix,omitempty"`
	RetryAfter string    `json:"retry_after,omitempty"`
	Status     int       `json:"status,omitempty"`
	Delay      string    `json:"delay,omitempty"`
}

func toAdminFault(f Fault) adminFault {
	a := adminFault{Kind: f.Kind, Count: f.Count, PathPrefix: f.PathPrefix, Status: f.Status}
	if f.RetryAfter > 0 {
		a.RetryAfter = f.RetryAfter.String()
	}
	if f.Delay > 0 {
		a.Delay = f.Delay.String()
	}
	return a
}

func (a adminFault) fault() (Fault, error) {
	f := Fault{Kind: a.Kind, Count: a.Count, PathPrefix: a.PathPrefix, Status: a.Status}
	var err error
	if a.RetryAfter != "" {
		if f.RetryAfter, err = time.ParseDuration(a.RetryAfter); err != nil {
			return f, fmt.Errorf("retry_after: %w", err)
		}
	}
	if a.Delay != "" {
		if f.Delay, err = time.ParseDuration(a.Delay); err != nil {
			return f, fmt.Errorf("delay: %w", err)
		}
	}
	return f, nil
}

func (s *Server) adminInject(w http.ResponseWriter, r *http.Request) {
	var a adminFault
	if err := decodeJSON(r, &a); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the body must be a fault: "+err.Error())
		return
	}
	f, err := a.fault()
	if err == nil {
		err = s.Inject(f)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminRotate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Secret       string `json:"secret"`
		RevokeTokens bool   `json:"revoke_tokens"`
	}
	if err := decodeJSON(r, &body); err != nil || body.Secret == "" {
		writeError(w, r, http.StatusBadRequest, "invalid_request", `send {"secret": "<new secret>", "revoke_tokens": bool}`)
		return
	}
	s.RotateSecret(body.Secret, body.RevokeTokens)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminRateLimit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Limit int `json:"limit"`
	}
	if err := decodeJSON(r, &body); err != nil || body.Limit <= 0 {
		writeError(w, r, http.StatusBadRequest, "invalid_request", `send {"limit": <requests per window, 1 or more>}`)
		return
	}
	s.SetRateLimit(body.Limit)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminEnqueue(w http.ResponseWriter, r *http.Request) {
	var spec json.RawMessage
	if err := decodeJSON(r, &spec); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the body must be a JSON job spec: "+err.Error())
		return
	}
	id, err := s.Enqueue(spec)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"job_id": id})
}

func (s *Server) adminJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j, ok := s.Job(id)
	if !ok {
		writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("unknown job %q", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"job":           j,
		"statuses":      s.Statuses(id),
		"files":         s.Files(id),
		"manifest":      s.Manifest(id),
		"logs":          s.LogBatches(id),
		"dropped_lines": s.DroppedLines(id),
	})
}
