package chart

import (
	"errors"
	"fmt"

	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationv1alpha1 "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	resiliencyv1alpha1 "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Scheme knows every type the chart may render: the Kubernetes API
// (client-go's scheme), CRDs, Dapr's Component, Configuration and Resiliency,
// and KEDA's ScaledObject, ScaledJob and (Cluster)TriggerAuthentication.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		apiextensionsv1.AddToScheme,
		componentsv1alpha1.AddToScheme,
		configurationv1alpha1.AddToScheme,
		resiliencyv1alpha1.AddToScheme,
		kedav1alpha1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	return s
}()

var strictSerializer = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme,
	json.SerializerOptions{Yaml: false, Pretty: false, Strict: true})

// Decode strictly decodes a rendered object into its Go type: an unknown
// apiVersion/kind, an unknown or duplicate field and a wrong type are errors
// that name the object and the field.
func Decode(obj Object) (runtime.Object, error) {
	gvk := schema.FromAPIVersionAndKind(obj.APIVersion, obj.Kind)
	if !Scheme.Recognizes(gvk) {
		return nil, fmt.Errorf("%s: unknown kind %s (not in the Kubernetes, Dapr or KEDA schemes)", obj, gvk)
	}
	out, _, err := strictSerializer.Decode(obj.JSON, nil, nil)
	if err != nil {
		if _, ok := runtime.AsStrictDecodingError(err); ok {
			// "strict decoding error: unknown field \"spec.template.spec.foo\""
			return nil, fmt.Errorf("%s: %w", obj, err)
		}
		return nil, fmt.Errorf("%s: decode %s: %w", obj, gvk, err)
	}
	return out, nil
}

// DecodeAll decodes every object; the errors of all objects are joined.
func DecodeAll(objs []Object) ([]runtime.Object, error) {
	var (
		out  []runtime.Object
		errs []error
	)
	for _, o := range objs {
		d, err := Decode(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}
