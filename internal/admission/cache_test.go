package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCacheFollowsAdmittedWrites: writes to the cached kinds pass through
// Admit, so their effect is seen by the very next request.
func TestCacheFollowsAdmittedWrites(t *testing.T) {
	p, _, reader := newTestPlugins(t)
	ctx := context.Background()
	if err := p.Admit(ctx, create(pod("team", "a"), "pods")); !apierrors.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: %v, want NotFound", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if err := p.Admit(ctx, create(ns, "namespaces")); err != nil {
		t.Fatal(err)
	}
	reader.objs = append(reader.objs, ns) // the namespace is stored
	if err := p.Admit(ctx, create(pod("team", "a"), "pods")); err != nil {
		t.Fatalf("create right after the namespace: %v", err)
	}

	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/configmaps": resource.MustParse("0")}}}
	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: "cm-" + "x"}}
	}
	if err := p.Admit(ctx, create(cm("before"), "configmaps")); err != nil {
		t.Fatalf("configmap before any quota: %v", err)
	}
	if err := p.Admit(ctx, create(q, "resourcequotas")); err != nil {
		t.Fatal(err)
	}
	reader.objs = append(reader.objs, q)
	if err := p.Admit(ctx, create(cm("after"), "configmaps")); !apierrors.IsForbidden(err) {
		t.Errorf("configmap right after a zero quota: %v, want Forbidden", err)
	}
}
