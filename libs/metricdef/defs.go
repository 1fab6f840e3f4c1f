package metricdef

import "github.com/prometheus/client_golang/prometheus"

// Buckets shared by several histograms.
var (
	// JobBuckets: 1 s to about 9 h.
	jobBuckets = prometheus.ExponentialBuckets(1, 2, 16)
	// runBuckets: 0.1 s to about 6 h.
	runBuckets = prometheus.ExponentialBuckets(0.1, 2.5, 12)
	// callBuckets: 1 ms to about 4 min, for single statements and calls.
	callBuckets = prometheus.ExponentialBuckets(0.001, 4, 10)
)

// Groups of the reference, in the order it lists them.
const (
	GroupProcess      = "Process"
	GroupJobs         = "Jobs"
	GroupPipeline     = "Pipeline"
	GroupSources      = "Sources"
	GroupObjectStore  = "Staging and destinations"
	GroupPubSub       = "Pub/sub"
	GroupSecrets      = "Secret stores"
	GroupControlPlane = "Control-plane link"
	GroupLogs         = "Job logs"
	GroupAudit        = "Audit log"
)

// Groups lists the groups in order.
var Groups = []string{GroupProcess, GroupJobs, GroupPipeline, GroupSources, GroupObjectStore, GroupPubSub,
	GroupSecrets, GroupControlPlane, GroupLogs, GroupAudit}

// Process.
var (
	BuildInfo = Def{Name: "secure_agent_build_info", Type: Gauge, Group: GroupProcess, Apps: AllApps,
		Help:   "Constant 1, labelled with the running service, its version and the Go version that built it.",
		Labels: []string{"service", "version", "goversion"}}
	HTTPRequestDuration = Def{Name: "secure_agent_http_request_duration_seconds", Type: Histogram, Group: GroupProcess, Apps: AllApps,
		Help:    "Duration of HTTP requests served by the app, by route template, method and status code.",
		Labels:  []string{"route", "method", "code"},
		Buckets: prometheus.DefBuckets}
)

// Jobs (the orchestrator).
var (
	JobsStarted = Def{Name: "secure_agent_jobs_started_total", Type: Counter, Group: GroupJobs, Apps: []string{Orchestrator},
		Help:   "Jobs whose workflow started, by source kind (postgres, mysql, sqlite).",
		Labels: []string{"source_kind"}}
	JobsFinished = Def{Name: "secure_agent_jobs_finished_total", Type: Counter, Group: GroupJobs, Apps: []string{Orchestrator},
		Help:   "Jobs that ended, by final state (succeeded, failed, cancelled) and source kind.",
		Labels: []string{"state", "source_kind"}}
	JobDuration = Def{Name: "secure_agent_job_duration_seconds", Type: Histogram, Group: GroupJobs, Apps: []string{Orchestrator},
		Help:    "Duration of jobs from workflow start to their final state, by final state and source kind.",
		Labels:  []string{"state", "source_kind"},
		Buckets: jobBuckets}
	JobPhaseDuration = Def{Name: "secure_agent_job_phase_duration_seconds", Type: Histogram, Group: GroupJobs, Apps: []string{Orchestrator},
		Help: "Duration of each phase of a job: queued (waiting for a source slot), preflight, extract (from the first " +
			"extraction request to the last partition published), finalize.",
		Labels:  []string{"phase"},
		Buckets: jobBuckets}
	LastSuccess = Def{Name: "secure_agent_last_success_timestamp_seconds", Type: Gauge, Group: GroupJobs, Apps: []string{Orchestrator},
		Help: "Unix time at which the last job of each connection succeeded. Set at start from the job store, so a " +
			"restart keeps it.",
		Labels: []string{"connection"}}
	WorkflowEvents = Def{Name: "secure_agent_orchestrator_events_raised_total", Type: Counter, Group: GroupJobs, Apps: []string{Orchestrator},
		Help:   "Events raised into job workflows, by type (partition-done, publish-done, cancel, deadline, wake).",
		Labels: []string{"type"}}
	ScheduleFires = Def{Name: "secure_agent_schedule_fires_total", Type: Counter, Group: GroupJobs, Apps: []string{Orchestrator},
		Help: "Fires of job schedules, by outcome (started: a job was submitted; skipped: a run of the connection " +
			"was still queued or running, so this fire did not start another; failed: the job could not be submitted " +
			"and the scheduler retries the fire).",
		Labels: []string{"outcome"}}
	Schedules = Def{Name: "secure_agent_schedules", Type: Gauge, Group: GroupJobs, Apps: []string{Orchestrator},
		Help: "Job schedules registered, as this orchestrator last read them."}
)

// Pipeline: partitions through the extractor and the publisher.
var (
	PartitionsDispatched = Def{Name: "secure_agent_partitions_dispatched_total", Type: Counter, Group: GroupPipeline, Apps: []string{Orchestrator},
		Help: "Extraction requests published for partitions, first attempts and retries."}
	PartitionsInFlight = Def{Name: "secure_agent_partitions_in_flight", Type: Gauge, Group: GroupPipeline, Apps: []string{Orchestrator},
		Help: "Partitions requested from the extractors and not yet published or given up."}
	PartitionRetries = Def{Name: "secure_agent_orchestrator_partition_retries_total", Type: Counter, Group: GroupPipeline, Apps: []string{Orchestrator},
		Help:   "Partition attempts given up and retried, by reason (deadline: no answer in time; failed: a retryable extractor failure).",
		Labels: []string{"reason"}}
	ExtractorRequests = Def{Name: "secure_agent_extractor_requests_total", Type: Counter, Group: GroupPipeline, Apps: []string{Extractor},
		Help:   "Extraction requests handled, by result (extracted, failed, replayed, joined, invalid, retry).",
		Labels: []string{"result"}}
	ExtractorPreflights = Def{Name: "secure_agent_extractor_preflights_total", Type: Counter, Group: GroupPipeline, Apps: []string{Extractor},
		Help:   "Preflights answered, by outcome (ok, failed, invalid).",
		Labels: []string{"result"}}
	ExtractorRunDuration = Def{Name: "secure_agent_extractor_run_duration_seconds", Type: Histogram, Group: GroupPipeline, Apps: []string{Extractor},
		Help:    "Duration of extraction runs (one partition: catalog statements, Arrow files staged, batches announced), by result (ok, failed).",
		Labels:  []string{"result"},
		Buckets: runBuckets}
	AssetsExtracted = Def{Name: "secure_agent_extractor_rows_total", Type: Counter, Group: GroupPipeline, Apps: []string{Extractor},
		Help:   "Assets (rows of the metadata model) staged by finished extraction runs, by asset kind.",
		Labels: []string{"kind"}}
	StagedFiles = Def{Name: "secure_agent_extractor_staged_files_total", Type: Counter, Group: GroupPipeline, Apps: []string{Extractor},
		Help:   "Arrow files written to the staging object store, by asset kind.",
		Labels: []string{"kind"}}
	StagedBytes = Def{Name: "secure_agent_extractor_staged_bytes_total", Type: Counter, Group: GroupPipeline, Apps: []string{Extractor},
		Help:   "Bytes of Arrow files written to the staging object store, by asset kind.",
		Labels: []string{"kind"}}
	BatchesAnnounced = Def{Name: "secure_agent_extractor_batches_announced_total", Type: Counter, Group: GroupPipeline, Apps: []string{Extractor},
		Help: "Staged batches announced to the publisher (batch-ready), replays included."}
	PublisherBatches = Def{Name: "secure_agent_publisher_batches_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Staged batches checked against their announced sha256, by result (verified, mismatched, missing).",
		Labels: []string{"result"}}
	PublisherBatchesPublished = Def{Name: "secure_agent_publisher_batches_published_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help: "Verified batches whose partition was published to every destination."}
	PublisherBacklog = Def{Name: "secure_agent_publisher_backlog_batches", Type: Gauge, Group: GroupPipeline, Apps: []string{Publisher},
		Help: "Batches verified since this publisher started whose partition is not yet published, failed or cancelled " +
			"(announced but not yet published); a redelivered batch counts once. Kept in memory: a restart resets it to 0 " +
			"and batches verified before it are not counted."}
	PublisherPartitions = Def{Name: "secure_agent_publisher_partitions_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Partitions finished by the publisher, by result (published, failed).",
		Labels: []string{"result"}}
	PublisherPartitionDuration = Def{Name: "secure_agent_publisher_partition_duration_seconds", Type: Histogram, Group: GroupPipeline, Apps: []string{Publisher},
		Help:    "Time to publish one partition (verify, compact, upload to every destination), by result (published, failed).",
		Labels:  []string{"result"},
		Buckets: runBuckets}
	PublisherUploadFiles = Def{Name: "secure_agent_publisher_upload_files_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Upload files written, by destination.",
		Labels: []string{"destination"}}
	PublisherUploadBytes = Def{Name: "secure_agent_publisher_upload_bytes_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Bytes of upload files written, by destination.",
		Labels: []string{"destination"}}
	PublisherUploadFailures = Def{Name: "secure_agent_publisher_upload_failures_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Upload files or manifests a destination did not take (the partition is retried or fails), by destination.",
		Labels: []string{"destination"}}
	PublisherManifests = Def{Name: "secure_agent_publisher_manifests_written_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help: "Job manifests written, counted once per destination."}
	PublisherInvalid = Def{Name: "secure_agent_publisher_invalid_events_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Events that could not be decoded or were invalid, dropped to the dead-letter topic, by topic.",
		Labels: []string{"topic"}}
	PublisherIgnored = Def{Name: "secure_agent_publisher_ignored_events_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Events acknowledged without work, by topic and reason (job_cancelled, job_finalized, partition_published, run_failed).",
		Labels: []string{"topic", "reason"}}
	PublisherControlPlaneFiles = Def{Name: "secure_agent_publisher_controlplane_files_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		ControlPlane: true,
		Help:         "Upload files offered to the control plane's ingest API, by result (ingested; skipped: it already had the file).",
		Labels:       []string{"result"}}
	PublisherCatalogChanges = Def{Name: "secure_agent_publisher_catalog_changes_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help: "Assets of finalized runs compared with their connection's last run, by asset kind and change (created, updated, " +
			"unchanged, deleted, withheld: a deletion a fail-safe held back); dry runs excluded.",
		Labels: []string{"kind", "change"}}
	PublisherFailSafes = Def{Name: "secure_agent_publisher_failsafes_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help:   "Runs whose deletions a fail-safe withheld, by fail-safe (partition_failed, no_assets, unreadable, threshold).",
		Labels: []string{"failsafe"}}
	PublisherCatalogStateUnreadable = Def{Name: "secure_agent_publisher_catalog_state_unreadable_total", Type: Counter, Group: GroupPipeline, Apps: []string{Publisher},
		Help: "Runs that could not use their connection's catalog state (missing or altered in staging) and shipped every asset without deletions."}
)

// Sources: the catalog statements the connectors run.
var (
	SourceStatements = Def{Name: "secure_agent_source_statements_total", Type: Counter, Group: GroupSources, Apps: []string{Extractor},
		Help: "Catalog statements run against sources, by connector, statement name (a fixed set per connector, " +
			"see docs/connectors.md) and result (ok, error).",
		Labels: []string{"connector", "statement", "result"}}
	SourceStatementDuration = Def{Name: "secure_agent_source_statement_duration_seconds", Type: Histogram, Group: GroupSources, Apps: []string{Extractor},
		Help:    "Duration of catalog statements, from sending to the last row read, by connector and statement name.",
		Labels:  []string{"connector", "statement"},
		Buckets: callBuckets}
	SourceConnections = Def{Name: "secure_agent_source_connections_total", Type: Counter, Group: GroupSources, Apps: []string{Extractor},
		Help:   "Connections opened to sources, by connector and result (ok, error).",
		Labels: []string{"connector", "result"}}
)

// Staging and destinations: the object-store bindings.
var (
	ObjectStoreOps = Def{Name: "secure_agent_objectstore_operations_total", Type: Counter, Group: GroupObjectStore, Apps: []string{Extractor, Publisher},
		Help:   "Object-store operations through Dapr output bindings, by binding, operation (put, get, delete, list) and result (ok, not_found, error).",
		Labels: []string{"binding", "operation", "result"}}
	ObjectStoreBytes = Def{Name: "secure_agent_objectstore_bytes_total", Type: Counter, Group: GroupObjectStore, Apps: []string{Extractor, Publisher},
		Help:   "Bytes moved through object-store bindings, by binding and operation (put, get).",
		Labels: []string{"binding", "operation"}}
	ObjectStoreDuration = Def{Name: "secure_agent_objectstore_operation_duration_seconds", Type: Histogram, Group: GroupObjectStore, Apps: []string{Extractor, Publisher},
		Help:    "Duration of object-store operations, by binding and operation.",
		Labels:  []string{"binding", "operation"},
		Buckets: callBuckets}
)

// Pub/sub.
var (
	PubSubEvents = Def{Name: "secure_agent_pubsub_events_total", Type: Counter, Group: GroupPubSub, Apps: AllApps,
		Help: "Events delivered to this app, by topic and the answer given (success, retry, drop, deadletter: refused " +
			"and published to the dead-letter topic).",
		Labels: []string{"topic", "result"}}
	PubSubPublished = Def{Name: "secure_agent_pubsub_published_total", Type: Counter, Group: GroupPubSub, Apps: AllApps,
		Help:   "Events this app published, by topic and result (ok, error).",
		Labels: []string{"topic", "result"}}
	DeadLettered = Def{Name: "secure_agent_pubsub_dead_lettered_total", Type: Counter, Group: GroupPubSub, Apps: []string{Orchestrator, Extractor, Publisher},
		Help:   "Events this app refused and published to the dead-letter topic, by topic of the refused event.",
		Labels: []string{"topic"}}
	DeadLettersPending = Def{Name: "secure_agent_deadletters_pending", Type: Gauge, Group: GroupPubSub, Apps: []string{Health},
		Help: "Dead-lettered messages kept by health, waiting to be replayed or discarded (agentctl deadletters)."}
	DeadLetters = Def{Name: "secure_agent_deadletters_total", Type: Counter, Group: GroupPubSub, Apps: []string{Health},
		Help: "Dead-letter events by topic of the refused event and what happened: received, replayed, refused (a " +
			"replay the app refused again), discarded.",
		Labels: []string{"topic", "event"}}
)

// Secret stores.
var (
	SecretReads = Def{Name: "secure_agent_secret_reads_total", Type: Counter, Group: GroupSecrets, Apps: []string{Extractor, Orchestrator, Publisher, Health},
		Help:   "Secrets read from Dapr secret stores, by store and result (ok, not_found, denied, error). Never the key.",
		Labels: []string{"store", "result"}}
)

// Control-plane link.
var (
	CPRequests = Def{Name: "secure_agent_controlplane_requests_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps:   []string{Orchestrator, Publisher, Health},
		Help:   "Control-plane API requests sent, by operation and status class (2xx, 4xx, 5xx, error).",
		Labels: []string{"operation", "class"}}
	CPRequestDuration = Def{Name: "secure_agent_controlplane_request_duration_seconds", Type: Histogram, Group: GroupControlPlane, ControlPlane: true,
		Apps:    []string{Orchestrator, Publisher, Health},
		Help:    "Duration of control-plane API requests, retries included, by operation.",
		Labels:  []string{"operation"},
		Buckets: callBuckets}
	CPRetries = Def{Name: "secure_agent_controlplane_retries_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps:   []string{Orchestrator, Publisher, Health},
		Help:   "Control-plane requests repeated after 429, 502-504 or a connection error, by operation.",
		Labels: []string{"operation"}}
	CPTokens = Def{Name: "secure_agent_controlplane_tokens_fetched_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps:   []string{Orchestrator, Publisher, Health},
		Help:   "OAuth access tokens requested from the token endpoint, by result (ok, error).",
		Labels: []string{"result"}}
	CPAuthFailures = Def{Name: "secure_agent_controlplane_auth_failures_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps: []string{Orchestrator, Publisher, Health},
		Help: "Authentication failures with the control plane, by reason (token_rejected: the token endpoint refused the " +
			"client credentials; unauthorized: the API answered 401 with a fresh token; forbidden: 403).",
		Labels: []string{"reason"}}
	CPEgressRefused = Def{Name: "secure_agent_controlplane_egress_refused_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps: []string{Orchestrator, Publisher, Health},
		Help: "Connections refused because the host is not on the egress allowlist."}
	CPLeases = Def{Name: "secure_agent_controlplane_leases_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps: []string{Orchestrator},
		Help: "Job leases from the control plane, by event (acquired; lost: the control plane took it back or it " +
			"expired before renewal; released).",
		Labels: []string{"event"}}
	CPPollerHeld = Def{Name: "secure_agent_controlplane_poller_held", Type: Gauge, Group: GroupControlPlane, ControlPlane: true,
		Apps: []string{Orchestrator},
		Help: "1 on the orchestrator replica that holds the poller lease and polls the control plane for work, 0 on the others " +
			"(summed over replicas it is 1; 0 for longer than the lease's TTL means no replica polls)."}
	Heartbeats = Def{Name: "secure_agent_heartbeats_total", Type: Counter, Group: GroupControlPlane, ControlPlane: true,
		Apps:   []string{Health},
		Help:   "Heartbeats sent to the control plane, by result (ok, error).",
		Labels: []string{"result"}}
)

// Job logs.
var (
	JobLogLinesDropped = Def{Name: "secure_agent_job_log_lines_dropped_total", Type: Counter, Group: GroupLogs,
		Apps:   []string{Orchestrator, Extractor, Publisher},
		Help:   "Job log lines this service dropped instead of shipping them to health, by reason (buffer_full, publish_failed).",
		Labels: []string{"reason"}}
	JobLogLinesPublished = Def{Name: "secure_agent_job_log_lines_published_total", Type: Counter, Group: GroupLogs,
		Apps: []string{Orchestrator, Extractor, Publisher},
		Help: "Job log lines this service published on the job-logs topic."}
	JobLogBuffered = Def{Name: "secure_agent_job_log_buffered_lines", Type: Gauge, Group: GroupLogs,
		Apps: []string{Orchestrator, Extractor, Publisher},
		Help: "Job log lines waiting in this service's buffer for the next publish."}
	LogUploadDropped = Def{Name: "secure_agent_log_upload_lines_dropped_total", Type: Counter, Group: GroupLogs, ControlPlane: true,
		Apps:   []string{Health},
		Help:   "Job log lines health dropped instead of uploading them to the control plane, by reason.",
		Labels: []string{"reason"}}
	LogUploadLines = Def{Name: "secure_agent_log_upload_lines_total", Type: Counter, Group: GroupLogs, ControlPlane: true,
		Apps: []string{Health},
		Help: "Job log lines uploaded to the control plane."}
	LogUploadBatches = Def{Name: "secure_agent_log_upload_batches_total", Type: Counter, Group: GroupLogs, ControlPlane: true,
		Apps:   []string{Health},
		Help:   "Job log batch uploads, by result (ok, error: kept for a later try, rejected: dropped).",
		Labels: []string{"result"}}
	LogUploadBuffered = Def{Name: "secure_agent_log_upload_buffered_lines", Type: Gauge, Group: GroupLogs, ControlPlane: true,
		Apps: []string{Health},
		Help: "Job log lines health holds for upload to the control plane."}
)

// Audit log (ADR 0014).
var (
	AuditRecords = Def{Name: "secure_agent_audit_records_total", Type: Counter, Group: GroupAudit, Apps: AllApps,
		Help: "Audit entries this app asked the audit log to record, by result (ok, failed). " +
			"A failed record means the action it described did not take effect (fail closed).",
		Labels: []string{"result"}}
	AuditLogEntries = Def{Name: "secure_agent_audit_log_entries", Type: Gauge, Group: GroupAudit, Apps: []string{Health},
		Help: "Entries in the audit log (its tree size)."}
	AuditCheckpoints = Def{Name: "secure_agent_audit_checkpoints_total", Type: Counter, Group: GroupAudit, Apps: []string{Health},
		Help: "Audit checkpoints signed, by result (ok, failed).", Labels: []string{"result"}}
	AuditCosignatures = Def{Name: "secure_agent_audit_cosignatures_total", Type: Counter, Group: GroupAudit, Apps: []string{Health}, ControlPlane: true,
		Help: "Checkpoints sent to the witness (the control plane), by result: ok (cosigned), refused (the witness found " +
			"the log inconsistent with what it cosigned before), error (unreachable or failed).",
		Labels: []string{"result"}}
	AuditLastCosigned = Def{Name: "secure_agent_audit_last_cosigned_timestamp_seconds", Type: Gauge, Group: GroupAudit, Apps: []string{Health}, ControlPlane: true,
		Help: "When the witness last cosigned an audit checkpoint (Unix seconds; 0: never)."}
	AuditDegraded = Def{Name: "secure_agent_audit_degraded", Type: Gauge, Group: GroupAudit, Apps: []string{Health},
		Help: "1 while the audit log cannot record, sign or get a cosignature, else 0."}
	AuditPruned = Def{Name: "secure_agent_audit_pruned_entries_total", Type: Counter, Group: GroupAudit, Apps: []string{Health},
		Help: "Audit entries whose bodies were pruned after the retention period (their hashes are kept)."}
)

// All returns every metric, grouped as in Groups.
func All() []Def {
	return []Def{
		BuildInfo, HTTPRequestDuration,
		JobsStarted, JobsFinished, JobDuration, JobPhaseDuration, LastSuccess, WorkflowEvents, ScheduleFires, Schedules,
		PartitionsDispatched, PartitionsInFlight, PartitionRetries,
		ExtractorRequests, ExtractorPreflights, ExtractorRunDuration, AssetsExtracted, StagedFiles, StagedBytes, BatchesAnnounced,
		PublisherBatches, PublisherBatchesPublished, PublisherBacklog, PublisherPartitions, PublisherPartitionDuration,
		PublisherUploadFiles, PublisherUploadBytes, PublisherUploadFailures, PublisherManifests, PublisherInvalid,
		PublisherIgnored, PublisherControlPlaneFiles, PublisherCatalogChanges, PublisherFailSafes, PublisherCatalogStateUnreadable,
		SourceStatements, SourceStatementDuration, SourceConnections,
		ObjectStoreOps, ObjectStoreBytes, ObjectStoreDuration,
		PubSubEvents, PubSubPublished, DeadLettered, DeadLettersPending, DeadLetters,
		SecretReads,
		CPRequests, CPRequestDuration, CPRetries, CPTokens, CPAuthFailures, CPEgressRefused, CPLeases, CPPollerHeld, Heartbeats,
		JobLogLinesDropped, JobLogLinesPublished, JobLogBuffered,
		LogUploadDropped, LogUploadLines, LogUploadBatches, LogUploadBuffered,
		AuditRecords, AuditLogEntries, AuditCheckpoints, AuditCosignatures, AuditLastCosigned, AuditDegraded, AuditPruned,
	}
}
