package admission

import (
	corev1 "k8s.io/api/core/v1"
)

// defaultServiceAccount is the ServiceAccount plugin's defaulting: a pod
// without one runs as "default". (Upstream also waits for the account to
// exist and mounts its token; berth only names it.)
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
