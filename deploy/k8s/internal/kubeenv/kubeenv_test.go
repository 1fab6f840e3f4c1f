package kubeenv_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/secure-agent/secure-agent/deploy/k8s/internal/kubeenv"
)

// A real apiserver: the admin certificate authenticates, the kubeconfig
// works, and PodSecurity admission enforces "restricted" on a labelled
// namespace (and only there: the same privileged pod passes elsewhere, so
// the refusal is PodSecurity's, not the pod validation's).
func TestPodSecurityAdmission(t *testing.T) {
	start := time.Now()
	env := kubeenv.Start(t, "")
	t.Logf("etcd and kube-apiserver ready in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cs, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)

	fromFile, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	csFile, err := kubernetes.NewForConfig(fromFile)
	require.NoError(t, err)
	v, err := csFile.Discovery().ServerVersion()
	require.NoError(t, err)
	require.Equal(t, "v1.37.2", v.GitVersion)

	who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, kubeenv.AdminUser, who.Status.UserInfo.Username)
	require.True(t, slices.Contains(who.Status.UserInfo.Groups, "system:masters"), "groups %v", who.Status.UserInfo.Groups)

	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   "restricted",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "unlabelled"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}

	_, err = cs.CoreV1().Pods("restricted").Create(ctx, privilegedPod(), dryRun)
	require.Error(t, err, "a privileged pod was admitted into a restricted namespace")
	require.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
	require.Contains(t, err.Error(), `violates PodSecurity "restricted`)
	require.Contains(t, err.Error(), "privileged")
	t.Logf("refused as expected: %v", err)

	_, err = cs.CoreV1().Pods("unlabelled").Create(ctx, privilegedPod(), dryRun)
	require.NoError(t, err, "the privileged pod must pass where PodSecurity does not restrict it")

	_, err = cs.CoreV1().Pods("restricted").Create(ctx, restrictedPod(), dryRun)
	require.NoError(t, err)
	// And for real: it is stored (nothing schedules it).
	created, err := cs.CoreV1().Pods("restricted").Create(ctx, restrictedPod(), metav1.CreateOptions{FieldValidation: "Strict"})
	require.NoError(t, err)
	require.NotEmpty(t, created.UID)
	require.False(t, strings.Contains(created.Annotations["pod-security.kubernetes.io/audit-violations"], "restricted"))
}

func privilegedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:            "c",
			Image:           "registry.example.com/app:1",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}},
	}
}

func restrictedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "restricted"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  "c",
				Image: "registry.example.com/app:1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}
