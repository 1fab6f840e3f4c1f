package controlplane

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

const maxJSONBody = 1 << 20

func (s *Server) handleWork(w http.ResponseWriter, r *http.Request) {
	agentID := r.URL.Query().Get("agent_id")
	if agentID == "" {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "set the agent_id query parameter")
		return
	}
	wait := 30
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 60 {
			writeError(w, r, http.StatusBadRequest, "invalid_request", "wait must be a whole number of seconds from 0 to 60")
			return
		}
		wait = n
	}
	l := s.work.poll(r.Context(), s.closing, agentID, time.Duration(wait)*time.Second)
	if l == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	l, err := s.work.renew(r.PathValue("lease_id"))
	if err != nil {
		writeLeaseError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the body must be a JSON object: "+err.Error())
		return
	}
	if err := s.work.release(r.PathValue("lease_id")); err != nil {
		writeLeaseError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	var rep StatusReport
	if err := decodeJSON(r, &rep); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the body must be a StatusReport: "+err.Error())
		return
	}
	if _, err := s.work.report(r.PathValue("lease_id"), rep); err != nil {
		writeLeaseError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeLeaseError(w http.ResponseWriter, r *http.Request, err error) {
	var le *errLease
	if errors.As(err, &le) {
		writeError(w, r, le.status, le.code, le.msg)
		return
	}
	writeError(w, r, http.StatusInternalServerError, "server_error", err.Error())
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

func decodeOptionalJSON(r *http.Request, v any) error {
	err := decodeJSON(r, v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
