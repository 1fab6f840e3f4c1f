package daprclient

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// APITokenHeader is the header (HTTP) and metadata key (gRPC) daprd reads
// its API token from, and sends the app token in.
const APITokenHeader = "dapr-api-token"

// ErrUnauthorized is a sidecar's 401: it requires an API token and the
// caller sent none or the wrong one.
var ErrUnauthorized = errors.New("the sidecar refused the API token (401)")

// tokenInterceptors add the sidecar's API token to every call on the gRPC
// connection. They sit on the connection rather than in the go-sdk client
// (whose WithAuthToken only works on connections it dialled itself), so
// everything sharing the connection — the go-sdk client, the durabletask
// workflow client — carries the token. Metadata already set is kept.
func tokenInterceptors(token string) []grpc.DialOption {
	add := func(ctx context.Context) context.Context {
		if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(APITokenHeader)) > 0 {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, APITokenHeader, token)
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(add(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
			streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(add(ctx), desc, cc, method, opts...)
		}),
	}
}
