package service_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

const (
	cpClientID = "agent-7"
	cpSecret   = "client-secret-7"
	cpAPI      = "/api/agent/v1"
)

// ingestServer stands in for the control plane's ingest API, which cannot
// run here: HTTPS, a client-credentials token endpoint, bearer checks,
// files kept by job and sha256 (a body that does not hash to its path is
// refused), a manifest refused while a file it lists is missing, and the
// failPut-th file upload answered 503.
type ingestServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	failPut  int
	puts     int
	files    map[string]map[string]string // job -> sha256 -> name
	stored   map[string]int               // job/sha256 -> uploads stored
	log      []string                     // "file <name>", "manifest" in order
	manifest map[string][]byte
}

func newIngestServer(t *testing.T) *ingestServer {
	t.Helper()
	s := &ingestServer{files: map[string]map[string]string{}, stored: map[string]int{}, manifest: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("HEAD "+cpAPI+"/jobs/{job}/files/{sha}", s.authorized(s.hasFile))
	mux.HandleFunc("PUT "+cpAPI+"/jobs/{job}/files/{sha}", s.authorized(s.putFile))
	mux.HandleFunc("PUT "+cpAPI+"/jobs/{job}/manifest", s.authorized(s.putManifest))
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *ingestServer) token(w http.ResponseWriter, r *http.Request) {
	id, secret, _ := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if id != cpClientID || secret != cpSecret || r.FormValue("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"token-7","token_type":"Bearer","expires_in":3600}`))
}

func (s *ingestServer) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-7" {
			http.Error(w, `{"error":{"code":"invalid_token","message":"no valid token"}}`, http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func (s *ingestServer) hasFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, ok := s.files[r.PathValue("job")][r.PathValue("sha")]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *ingestServer) putFile(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, `{"error":{"code":"invalid_request","message":"read the body"}}`, http.StatusBadRequest)
		return
	}
	jobID, sha := r.PathValue("job"), r.PathValue("sha")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.puts == s.failPut {
		http.Error(w, `{"error":{"code":"unavailable","message":"scripted outage"}}`, http.StatusServiceUnavailable)
		return
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != sha || r.Header.Get("X-File-Name") == "" || r.Header.Get("X-Asset-Kind") == "" {
		http.Error(w, `{"error":{"code":"invalid_request","message":"bad file"}}`, http.StatusBadRequest)
		return
	}
	if _, ok := s.files[jobID][sha]; ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	if s.files[jobID] == nil {
		s.files[jobID] = map[string]string{}
	}
	s.files[jobID][sha] = r.Header.Get("X-File-Name")
	s.stored[jobID+"/"+sha]++
	s.log = append(s.log, "file "+r.Header.Get("X-File-Name"))
	w.WriteHeader(http.StatusCreated)
}

func (s *ingestServer) putManifest(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m model.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, `{"error":{"code":"invalid_request","message":"not a manifest"}}`, http.StatusBadRequest)
		return
	}
	jobID := r.PathValue("job")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range m.Files {
		if _, ok := s.files[jobID][f.SHA256]; !ok {
			http.Error(w, `{"error":{"code":"files_missing","message":"upload `+f.Name+` first"}}`, http.StatusConflict)
			return
		}
	}
	s.manifest[jobID] = body
	s.log = append(s.log, "manifest")
	w.WriteHeader(http.StatusOK)
}

func (s *ingestServer) snapshot() (puts int, stored map[string]int, order []string, manifest map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts, maps.Clone(s.stored), slices.Clone(s.log), maps.Clone(s.manifest)
}

// link returns the publisher's settings and the secret store component
// that point it at the server.
func (s *ingestServer) link(t *testing.T) (env, resources map[string]string) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600))
	secrets := filepath.Join(dir, "secrets.json")
	data, err := json.Marshal(map[string]string{"cp-client-id": cpClientID, "cp-client-secret": cpSecret})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(secrets, data, 0o600))
	env = map[string]string{
		"CONTROLPLANE_URL": s.srv.URL + cpAPI, "CONTROLPLANE_TOKEN_URL": s.srv.URL + "/token",
		"CONTROLPLANE_CA_FILE": ca, "CONTROLPLANE_SECRET_STORE": "cpsecrets",
		"CONTROLPLANE_CLIENT_ID_KEY": "cp-client-id", "CONTROLPLANE_CLIENT_SECRET_KEY": "cp-client-secret",
		// The scripted 503 reaches the publisher instead of being retried
		// inside the client.
		"CONTROLPLANE_MAX_RETRIES": "0", "AGENT_ID": "agent-test",
	}
	resources = map[string]string{"cpsecrets.yaml": component("cpsecrets", "secretstores.local.file", map[string]string{"secretsFile": secrets})}
	return env, resources
}

// A partition goes to the control plane (under the control plane's job
// id) and to a binding. The second file upload fails; the redelivered
// partition-done sends only the files the control plane lacks, so each
// file is stored once, and finalize sends the manifest after them. The
// manifest is served back from the binding.
func TestControlPlaneDestination(t *testing.T) {
	cp := newIngestServer(t)
	cp.failPut = 2
	env, resources := cp.link(t)
	h := startWith(t, env, resources)
	const id, cpJob = "job-cp", "cp-job-7"
	dests := []job.Destination{{Binding: job.DestinationControlPlane, JobID: cpJob}, {Binding: "destination"}}
	staged := h.stageRun(id, "p000", "run-a", []catalog{
		{database: "shop", schema: "sales", tables: 4, cols: 6, tablePrefix: "orders_"},
		{database: "shop", schema: "sales", tables: 2, cols: 3, tablePrefix: "items_"},
	})
	ev := partitionDone(staged, dests...)

	h.publish(job.TopicPartitionDone, ev)
	h.eventually("the control plane refused an upload", func() bool { puts, _, _, _ := cp.snapshot(); return puts >= 2 })
	// The broker would redeliver the failed event; it is sent again here so
	// the test does not depend on the in-memory broker's retries.
	h.publish(job.TopicPartitionDone, ev)
	done := h.waitPublishDone(id, "p000", 1)
	require.True(t, done.OK, done.Error)
	require.GreaterOrEqual(t, len(done.Files), 4, "one file per kind")

	puts, stored, order, _ := cp.snapshot()
	require.Equal(t, len(done.Files)+1, puts, "every file sent once, plus the refused attempt")
	require.Len(t, stored, len(done.Files))
	for _, f := range done.Files {
		require.Equal(t, 1, stored[cpJob+"/"+f.SHA256], "%s stored once under the control plane's job id", f.Name)
		sum, _, _ := readUpload(t, filepath.Join(h.destDir, "jobs", id, f.Name))
		require.Equal(t, f.SHA256, sum, "the binding got the same bytes")
	}
	require.GreaterOrEqual(t, h.metric("secure_agent_publisher_controlplane_files_total", "result", "skipped"), 1.0,
		"the file stored before the outage was not sent again")
	require.Equal(t, 1.0, h.metric("secure_agent_publisher_upload_failures_total", "destination", job.DestinationControlPlane))
	require.Zero(t, h.metric("secure_agent_publisher_upload_failures_total", "destination", "destination"))
	require.Equal(t, float64(len(done.Files)+1), h.metric("secure_agent_publisher_upload_files_total", "destination", job.DestinationControlPlane),
		"the control plane: the first file before the outage, then every file of the redelivery (it skips the one it holds itself)")
	require.Equal(t, float64(len(done.Files)), h.metric("secure_agent_publisher_upload_files_total", "destination", "destination"),
		"the binding: the first file before the outage, then the redelivery writes only the files it does not hold")
	require.GreaterOrEqual(t, h.metric("secure_agent_secret_reads_total", "store", "cpsecrets", "result", "ok"), 2.0,
		"the client id and secret were read from the store")
	require.Zero(t, h.metric("secure_agent_controlplane_auth_failures_total", "reason", "token_rejected"))

	out, err := h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(dests...), Partitions: []string{"p000"}, StartedAt: time.Now()})
	require.NoError(t, err)
	_, _, order, manifests := cp.snapshot()
	require.Len(t, order, len(done.Files)+1)
	require.Equal(t, "manifest", order[len(order)-1], "the manifest comes after every file")
	require.Equal(t, job.ManifestRef{Binding: job.DestinationControlPlane, Key: "jobs/" + cpJob + "/manifest",
		Files: len(done.Files), Bytes: int64(len(manifests[cpJob])), SHA256: out.Manifests[0].SHA256}, out.Manifests[0])
	sum := sha256.Sum256(manifests[cpJob])
	require.Equal(t, hex.EncodeToString(sum[:]), out.Manifests[0].SHA256, "the reference carries the manifest's sha256")
	var m model.Manifest
	require.NoError(t, json.Unmarshal(manifests[cpJob], &m))
	require.Len(t, m.Files, len(done.Files))
	require.NotContains(t, string(manifests[cpJob]), "db.internal", "the manifest carries no DSN")

	r := h.invoke("GET", "v1/jobs/"+id+"/manifest")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.JSONEq(t, string(manifests[cpJob]), string(r.Body), "served from the binding")

	// The control-plane calls are client spans inside the uploads; none
	// carries the client secret or an access token.
	ingests := h.spansNamed("PUT " + cpAPI + "/jobs/{job_id}/files/{sha256}")
	require.NotEmpty(t, ingests)
	for _, s := range ingests {
		require.Equal(t, cpJob, spanAttr(s, "secure_agent.job.id"))
	}
	require.NotEmpty(t, h.spansNamed("PUT "+cpAPI+"/jobs/{job_id}/manifest"))
	for _, s := range h.spans.Ended() {
		text := s.Name() + " " + s.Status().Description
		for _, a := range s.Attributes() {
			text += " " + string(a.Key) + "=" + a.Value.Emit()
		}
		for _, e := range s.Events() {
			text += " " + e.Name
			for _, a := range e.Attributes {
				text += " " + string(a.Key) + "=" + a.Value.Emit()
			}
		}
		require.NotContains(t, text, cpSecret)
		require.NotContains(t, text, "token-7")
		require.NotContains(t, strings.ToLower(text), "bearer")
	}
}

// Without the link, a partition for the control plane fails at once with
// the settings to set, and nothing is uploaded anywhere.
func TestControlPlaneDestinationWithoutLink(t *testing.T) {
	h := start(t, nil)
	const id = "job-nolink"
	staged := h.stageRun(id, "p000", "run-a", []catalog{{database: "shop", schema: "sales", tables: 1, cols: 2, tablePrefix: "t_"}})
	h.publish(job.TopicPartitionDone, partitionDone(staged, job.Destination{Binding: "destination"}, job.Destination{Binding: job.DestinationControlPlane}))
	done := h.waitPublishDone(id, "p000", 1)
	require.False(t, done.OK)
	require.True(t, strings.Contains(done.Error, "set CONTROLPLANE_URL and CONTROLPLANE_TOKEN_URL on the publisher"), done.Error)
	require.Empty(t, filesUnder(t, h.destDir))
	require.Equal(t, 1.0, h.metric("secure_agent_publisher_partitions_total", "result", "failed"))
}
