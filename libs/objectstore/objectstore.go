// Package objectstore reads and writes whole objects through a Dapr output
// binding (bindings.localstorage locally; S3, Azure Blob or GCS buckets in
// a cluster). Keys are slash-separated relative paths. Each operation is a
// client span and counts in the secure_agent_objectstore_* metrics.
package objectstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	dapr "github.com/dapr/go-sdk/client"

	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// BindingInvoker is the slice of the Dapr client a Store needs.
type BindingInvoker interface {
	InvokeBinding(ctx context.Context, in *dapr.InvokeBindingRequest) (*dapr.BindingEvent, error)
}

// Store is one binding used as an object store.
type Store struct {
	client  BindingInvoker
	binding string
	tracer  trace.Tracer
	metrics *metrics
}

// New returns a store on the named output binding. Without options it
// records no spans and exports no metrics.
func New(client BindingInvoker, binding string, opts ...Option) *Store {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return &Store{client: client, binding: binding, tracer: o.tracer(), metrics: newMetrics(o.reg)}
}

// Name is the binding's component name.
func (s *Store) Name() string { return s.binding }

// CheckKey refuses keys that could escape the store's root.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, `\`) ||
		path.Clean(key) != key || key == ".." || strings.HasPrefix(key, "../") {
		return errkind.New(errkind.Invalid, fmt.Sprintf("object key %q is not a clean relative path", key))
	}
	return nil
}

// keyMetadata names the key the way the common bindings read it:
// localstorage "fileName", S3/GCS "key", Azure Blob "blobName".
func keyMetadata(key string) map[string]string {
	return map[string]string{"fileName": key, "key": key, "blobName": key}
}

// Put writes data under key, replacing what was there. The payload is sent
// base64-encoded with decodeBase64 set: bindings.localstorage would
// otherwise try to unquote and base64-decode arbitrary bytes, and S3, Azure
// Blob and GCS decode when asked to.
func (s *Store) Put(ctx context.Context, key string, data []byte) (err error) {
	if err := CheckKey(key); err != nil {
		return err
	}
	ctx, o := s.begin(ctx, opPut, key)
	defer func() { o.end(len(data), err) }()
	md := keyMetadata(key)
	md["decodeBase64"] = "true"
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
	base64.StdEncoding.Encode(enc, data)
	_, err = s.client.InvokeBinding(ctx, &dapr.InvokeBindingRequest{
		Name: s.binding, Operation: "create", Data: enc, Metadata: md,
	})
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, fmt.Sprintf("write %s to object store %s", key, s.binding))
	}
	return nil
}

// Get reads the object under key. A missing object is errkind.NotFound.
func (s *Store) Get(ctx context.Context, key string) (data []byte, err error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	ctx, o := s.begin(ctx, opGet, key)
	defer func() { o.end(len(data), err) }()
	out, err := s.client.InvokeBinding(ctx, &dapr.InvokeBindingRequest{
		Name: s.binding, Operation: "get", Metadata: keyMetadata(key),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, errkind.Wrap(errkind.NotFound, err, fmt.Sprintf("read %s from object store %s", key, s.binding))
		}
		return nil, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read %s from object store %s", key, s.binding))
	}
	if out == nil {
		return nil, nil
	}
	return out.Data, nil
}

// Delete removes the object under key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	ctx, o := s.begin(ctx, opDelete, key)
	_, err := s.client.InvokeBinding(ctx, &dapr.InvokeBindingRequest{
		Name: s.binding, Operation: "delete", Metadata: keyMetadata(key),
	})
	switch {
	case err == nil:
		o.end(0, nil)
	case isNotFound(err):
		o.end(0, errkind.Wrap(errkind.NotFound, err, "delete"))
	default:
		err = errkind.Wrap(errkind.Transient, err, fmt.Sprintf("delete %s from object store %s", key, s.binding))
		o.end(0, err)
		return err
	}
	return nil
}

// List returns the objects under prefix (a folder) as keys. It understands
// bindings.localstorage's answer (absolute paths, cut back to the key at
// the prefix) as well as bindings that answer with keys.
func (s *Store) List(ctx context.Context, prefix string) (keys []string, err error) {
	if err := CheckKey(prefix); err != nil {
		return nil, err
	}
	ctx, o := s.begin(ctx, opList, prefix)
	out, err := s.client.InvokeBinding(ctx, &dapr.InvokeBindingRequest{
		Name: s.binding, Operation: "list", Metadata: keyMetadata(prefix),
	})
	if err != nil {
		if isNotFound(err) {
			o.end(0, errkind.Wrap(errkind.NotFound, err, "list"))
			return nil, nil
		}
		err = errkind.Wrap(errkind.Transient, err, fmt.Sprintf("list %s in object store %s", prefix, s.binding))
		o.end(0, err)
		return nil, err
	}
	defer func() {
		o.span.SetAttributes(attrKeys.Int(len(keys)))
		o.end(0, err)
	}()
	var paths []string
	if out != nil && len(out.Data) > 0 {
		if err := json.Unmarshal(out.Data, &paths); err != nil {
			return nil, fmt.Errorf("list %s in object store %s: unexpected answer: %w", prefix, s.binding, err)
		}
	}
	keys = make([]string, 0, len(paths))
	for _, p := range paths {
		if i := strings.LastIndex(p, "/"+prefix+"/"); i >= 0 {
			p = p[i+1:]
		}
		if strings.HasPrefix(p, prefix+"/") {
			keys = append(keys, p)
		}
	}
	return keys, nil
}

func isNotFound(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not found") || strings.Contains(msg, "no such file") || strings.Contains(msg, "nosuchkey")
}
