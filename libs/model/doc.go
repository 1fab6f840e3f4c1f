// Package model is the agent's metadata model: one Arrow schema per asset
// kind, the row types connectors produce, catalog qualified names, and a
// Writer that turns rows into bounded Arrow record batches.
//
// Every row carries qualified_name, parent_qualified_name, job_id and
// extracted_at. Nullable fields that may hold sensitive or bulky text can be
// excluded (data minimisation); an excluded field is written as null, so the
// schema stays the same whatever the job's exclusions.
//
// An extraction's output directory holds one zstd-compressed Arrow IPC
// stream per kind (FileSink), then manifest.json (WriteManifest) with each
// file's rows, size and sha256; the manifest is written last and marks the
// directory complete. ReadFile reads a file back with bounds on everything
// the file claims, VerifyDir checks a directory against its manifest, and
// ExportEntityJSONL turns it into catalog entity JSON lines.
package model
