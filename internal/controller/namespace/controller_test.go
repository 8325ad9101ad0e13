package namespace

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

func newTerminating() *corev1.Namespace {
	ts := metav1.NewTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "team-uid", DeletionTimestamp: &ts},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func newTestController(t *testing.T, ns *corev1.Namespace, content ...runtime.Object) (*Controller, *fake.Clientset, *metafake.FakeMetadataClient) {
	cs := fake.NewSimpleClientset(ns)
	disco := stubDiscovery{{
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"list", "delete", "deletecollection"}},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"list", "delete"}},
		},
	}}
	// The fake has no finalize subresource: answer it like the server does.
	cs.PrependReactor("create", "namespaces", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		return true, a.(clienttesting.CreateAction).GetObject(), nil
	})
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	md := metafake.NewSimpleMetadataClient(scheme, content...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, md, disco, inf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := inf.Core().V1().Namespaces().Informer().GetIndexer().Add(ns); err != nil {
		t.Fatal(err)
	}
	return c, cs, md
}

func meta(kind, name string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
	}
}

func TestSyncDeletesContent(t *testing.T) {
	c, cs, md := newTestController(t, newTerminating(), meta("ConfigMap", "cfg"), meta("ConfigMap", "other"))
	if err := c.sync(context.Background(), "team"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range md.Actions() {
		if d, ok := a.(clienttesting.DeleteAction); ok {
			deleted = append(deleted, d.GetResource().Resource+"/"+d.GetName())
		}
	}
	if len(deleted) != 2 {
		t.Errorf("deleted %v, want both configmaps", deleted)
	}
	var ns *corev1.Namespace
	for _, a := range cs.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			ns = a.(clienttesting.UpdateAction).GetObject().(*corev1.Namespace)
		}
	}
	if ns == nil {
		t.Fatalf("no status update; actions %v", cs.Actions())
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %s, want Terminating", ns.Status.Phase)
	}
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "finalize" {
			t.Errorf("finalized while content remained")
		}
	}
}

func TestSyncFinalizesEmptyNamespace(t *testing.T) {
	c, cs, _ := newTestController(t, newTerminating())
	if err := c.sync(context.Background(), "team"); err != nil {
		t.Fatal(err)
	}
	var finalized *corev1.Namespace
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "finalize" {
			finalized = a.(clienttesting.CreateAction).GetObject().(*corev1.Namespace)
		}
	}
	if finalized == nil {
		t.Fatalf("no finalize call; actions %v", cs.Actions())
	}
	if len(finalized.Spec.Finalizers) != 0 {
		t.Errorf("finalize sent spec.finalizers %v, want none", finalized.Spec.Finalizers)
	}
}

type stubDiscovery []*metav1.APIResourceList

func (s stubDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return s, nil
}
