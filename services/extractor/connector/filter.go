package connector

import "github.com/secure-agent/secure-agent/libs/assetfilter"

// The filter types live in libs/assetfilter, shared with the job spec; the
// aliases keep connectors written against this package unchanged.
type (
	Filters  = assetfilter.Filters
	Compiled = assetfilter.Compiled
	Pattern  = assetfilter.Pattern
)
