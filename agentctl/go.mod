module github.com/secure-agent/secure-agent/agentctl

go 1.26.0

require (
	github.com/secure-agent/secure-agent/libs v0.0.0-00010101000000-000000000000
	github.com/secure-agent/secure-agent/services/extractor v0.0.0-00010101000000-000000000000
)

replace (
	github.com/secure-agent/secure-agent/libs => ../libs
	github.com/secure-agent/secure-agent/services/extractor => ../services/extractor
)
