package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// defaultServiceAccount is the ServiceAccount plugin's defaulting: a pod
// without one runs as "default". (Upstream also mounts the account's token;
// berth only names it.)
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
// a pod names. The "default" account is not checked: the serviceaccount
// controller creates it moments after its namespace, and a pod created in
// between would be refused for no fault of its author.
func (p *Plugins) checkServiceAccount(ctx context.Context, a *Attributes) error {
	name := a.Object.(*corev1.Pod).Spec.ServiceAccountName
	if name == "" || name == "default" {
		return nil
	}
	_, err := p.reader.Get(ctx, coreKind("serviceaccounts"), a.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		return forbidden(a, fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found", a.Namespace, name, name))
	case err != nil:
		return apierrors.NewInternalError(fmt.Errorf("read serviceaccount %s/%s: %w", a.Namespace, name, err))
	}
	return nil
}
