package admission

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// defaultServiceAccount is the ServiceAccount plugin's defaulting: a pod
// without one runs as "default" (mountServiceAccountToken mounts its token).
func defaultServiceAccount(a *Attributes) {
	pod := a.Object.(*corev1.Pod)
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
		pod.Spec.DeprecatedServiceAccount = "default"
	}
}

// defaultTolerationSeconds is upstream's default-not-ready and
// default-unreachable toleration (5 minutes).
const defaultTolerationSeconds = int64(300)

// defaultTolerations is the DefaultTolerationSeconds plugin: pods tolerate
// a not-ready or unreachable node for five minutes before eviction, unless
// they say otherwise.
func defaultTolerations(a *Attributes) {
	pod := a.Object.(*corev1.Pod)
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		has := false
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				has = true
				break
			}
		}
		if !has {
			secs := defaultTolerationSeconds
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
			})
		}
	}
}

// checkServiceAccount is the ServiceAccount plugin's lookup for an account
// a pod names, returning it (nil when unknown). A missing "default" account
// is not refused: the serviceaccount controller creates it moments after
// its namespace, and a pod created in between would be refused for no fault
// of its author.
func (p *Plugins) checkServiceAccount(ctx context.Context, a *Attributes) (*corev1.ServiceAccount, error) {
	name := a.Object.(*corev1.Pod).Spec.ServiceAccountName
	if name == "" {
		return nil, nil
	}
	obj, err := p.reader.Get(ctx, coreKind("serviceaccounts"), a.Namespace, name)
	switch {
	case apierrors.IsNotFound(err) && name == "default":
		return nil, nil
	case apierrors.IsNotFound(err):
		return nil, forbidden(a, fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found", a.Namespace, name, name))
	case err != nil:
		return nil, apierrors.NewInternalError(fmt.Errorf("read serviceaccount %s/%s: %w", a.Namespace, name, err))
	}
	sa, _ := obj.(*corev1.ServiceAccount)
	return sa, nil
}

// The ServiceAccount plugin's API access volume, as upstream names and
// shapes it.
const (
	apiAccessVolumePrefix = "kube-api-access-"
	apiAccessMountPath    = "/var/run/secrets/kubernetes.io/serviceaccount"
	apiAccessTokenSeconds = int64(3607)
	mirrorPodAnnotation   = "kubernetes.io/config.mirror"
)

// mountServiceAccountToken gives every container of a pod the account's
// token, the cluster CA and its namespace under apiAccessMountPath, unless
// the pod or its account opts out (automountServiceAccountToken: false) or
// a container already mounts something there.
func mountServiceAccountToken(a *Attributes, sa *corev1.ServiceAccount) {
	pod := a.Object.(*corev1.Pod)
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return
	}
	if auto := pod.Spec.AutomountServiceAccountToken; auto != nil && !*auto {
		return
	}
	if pod.Spec.AutomountServiceAccountToken == nil && sa != nil && sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		return
	}
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, apiAccessVolumePrefix) {
			name = v.Name
			break
		}
	}
	hasVolume := name != ""
	if !hasVolume {
		name = apiAccessVolumePrefix + utilrand.String(5)
	}
	needed := false
	mount := func(cs []corev1.Container) {
		for i := range cs {
			if !slices.ContainsFunc(cs[i].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == apiAccessMountPath }) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: apiAccessMountPath})
				needed = true
			}
		}
	}
	mount(pod.Spec.InitContainers)
	mount(pod.Spec.Containers)
	if hasVolume || !needed {
		return
	}
	mode, exp := int32(0o644), apiAccessTokenSeconds
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}})
}
