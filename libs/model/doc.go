// Package model is the agent's metadata model: one Arrow schema per asset
// kind, the row types connectors produce, catalog qualified names, and a
// Writer that turns rows into bounded Arrow record batches.
//
// Every row carries qualified_name, parent_qualified_name, job_id and
// extracted_at. Nullable fields that may hold sensitive or bulky text can be
// excluded (data minimisation); an excluded field is written as null, so the
// schema stays the same whatever the job's exclusions.
package model
