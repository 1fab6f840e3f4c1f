package daprclient

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// SecretErrorKind classifies an error of the sidecar's GetSecret (the
// go-sdk returns daprd's gRPC status with its message): refused by the
// app's secret scopes (Unauthorized), no such key or store (NotFound), or
// anything else (Transient: a later read may succeed).
func SecretErrorKind(err error) errkind.Kind {
	msg := strings.ToLower(err.Error())
	switch {
	case status.Code(err) == codes.PermissionDenied || strings.Contains(msg, "access denied") || strings.Contains(msg, "permissiondenied"):
		return errkind.Unauthorized
	case status.Code(err) == codes.NotFound || strings.Contains(msg, "not found") || strings.Contains(msg, "notfound") ||
		strings.Contains(msg, "does not exist") || strings.Contains(msg, "failed finding"):
		return errkind.NotFound
	}
	return errkind.Transient
}
