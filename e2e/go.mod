module github.com/secure-agent/secure-agent/e2e

go 1.26.0

require (
	github.com/secure-agent/secure-agent/deploy/local v0.0.0-00010101000000-000000000000
	github.com/secure-agent/secure-agent/libs v0.0.0-00010101000000-000000000000
)

replace (
	github.com/secure-agent/secure-agent/deploy/local => ../deploy/local
	github.com/secure-agent/secure-agent/libs => ../libs
)
