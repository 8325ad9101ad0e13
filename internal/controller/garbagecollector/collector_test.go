package garbagecollector

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	metafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var (
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	rsGVR   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	depGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func obj(apiVersion, kind, name string, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), OwnerReferences: owners},
	}
}

func ownedBy(kind, name string, block bool) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(name), Controller: &t, BlockOwnerDeletion: &block}
}

func deleting(o *metav1.PartialObjectMetadata, finalizer string) *metav1.PartialObjectMetadata {
	now := metav1.NewTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	o.DeletionTimestamp = &now
	o.Finalizers = []string{finalizer}
	return o
}

// newTestCollector fills the graph with observed objects; the API server
// (a fake metadata client) holds apiObjs.
func newTestCollector(t *testing.T, observed map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata, apiObjs ...runtime.Object) (*Collector, *metafake.FakeMetadataClient) {
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	md := metafake.NewSimpleMetadataClient(scheme, apiObjs...)
	gc := New(md, nil, nil, slog.New(slog.DiscardHandler))
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	gc.mapper = m
	for gvr, objs := range observed {
		for _, o := range objs {
			gc.graph.observe(gvr, o)
		}
	}
	return gc, md
}

func verbs(md *metafake.FakeMetadataClient) []string {
	var out []string
	for _, a := range md.Actions() {
		if a.GetVerb() == "get" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if d, ok := a.(clienttesting.DeleteAction); ok {
			s += "/" + d.GetName()
		}
		if p, ok := a.(clienttesting.PatchAction); ok {
			s += "/" + p.GetName()
		}
		out = append(out, s)
	}
	return out
}

func TestAttemptToDelete(t *testing.T) {
	pod := obj("v1", "Pod", "web-1", ownedBy("ReplicaSet", "web", true))
	rs := obj("apps/v1", "ReplicaSet", "web")
	tests := []struct {
		name     string
		observed map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata
		api      []runtime.Object
		want     []string
	}{
		{"owner gone: dependent deleted",
			map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{podsGVR: {pod}},
			[]runtime.Object{pod}, []string{"delete pods/web-1"}},
		{"owner alive: nothing",
			map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{podsGVR: {pod}, rsGVR: {rs}},
			[]runtime.Object{pod, rs}, nil},
		{"owner not watched but served: nothing",
			map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{podsGVR: {pod}},
			[]runtime.Object{pod, rs}, nil},
		{"one of two owners gone: reference dropped",
			map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{podsGVR: {obj("v1", "Pod", "web-1", ownedBy("ReplicaSet", "web", true), ownedBy("ReplicaSet", "other", false))}, rsGVR: {rs}},
			[]runtime.Object{obj("v1", "Pod", "web-1", ownedBy("ReplicaSet", "web", true), ownedBy("ReplicaSet", "other", false)), rs},
			[]string{"patch pods/web-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gc, md := newTestCollector(t, tc.observed, tc.api...)
			if err := gc.attemptToDelete(context.Background(), "web-1"); err != nil {
				t.Fatal(err)
			}
			if got := verbs(md); len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Errorf("actions = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestForegroundDeletion(t *testing.T) {
	dep := deleting(obj("apps/v1", "Deployment", "hello"), foregroundFinalizer)
	rs := obj("apps/v1", "ReplicaSet", "hello-abc", ownedBy("Deployment", "hello", true))
	gc, md := newTestCollector(t, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{depGVR: {dep}, rsGVR: {rs}}, dep, rs)
	ctx := context.Background()
	if err := gc.attemptToDelete(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if got := verbs(md); len(got) != 0 {
		t.Errorf("owner with a blocking dependent: actions = %v, want none", got)
	}
	if err := gc.attemptToDelete(ctx, "hello-abc"); err != nil {
		t.Fatal(err)
	}
	if got := verbs(md); len(got) != 1 || got[0] != "delete replicasets/hello-abc" {
		t.Errorf("dependent of a foreground deletion: actions = %v, want [delete replicasets/hello-abc]", got)
	}
	md.ClearActions()
	gc.deleted("hello-abc")
	if err := gc.attemptToDelete(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if got := verbs(md); len(got) != 1 || got[0] != "patch deployments/hello" {
		t.Errorf("last dependent gone: actions = %v, want the finalizer patch", got)
	}
}

func TestOrphan(t *testing.T) {
	dep := deleting(obj("apps/v1", "Deployment", "hello"), orphanFinalizer)
	a := obj("apps/v1", "ReplicaSet", "a", ownedBy("Deployment", "hello", true))
	b := obj("apps/v1", "ReplicaSet", "b", ownedBy("Deployment", "hello", true))
	gc, md := newTestCollector(t, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{depGVR: {dep}, rsGVR: {a, b}}, dep, a, b)
	if err := gc.attemptToOrphan(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	got := verbs(md)
	if len(got) != 3 || got[2] != "patch deployments/hello" {
		t.Errorf("actions = %v, want two dependent patches then the finalizer patch", got)
	}
	for _, name := range []string{"a", "b"} {
		o, err := md.Resource(rsGVR).Namespace("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.OwnerReferences) != 0 {
			t.Errorf("%s still has ownerReferences %v", name, o.OwnerReferences)
		}
	}
}
