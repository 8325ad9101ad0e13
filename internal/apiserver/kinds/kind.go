// Package kinds describes every resource berth serves: names for discovery,
// storage version and conversions, defaulting, validation, field selectors,
// scale, and the Table columns kubectl prints. registry.go lists the kinds
// in discovery order; their behaviour lives in a file per kind or per
// group (pod.go, service.go, apps.go, batch.go, ...), each mirroring
// upstream's defaults.go, validation.go and printers.go for its kinds.
//
// It must not import internal/apiserver (the HTTP layer consumes this
// package, never the other way round) nor internal/storage.
package kinds

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kind is one served resource at one group-version. A resource served at
// several versions (autoscaling/v1 and v2 HPAs; core/v1 and events.k8s.io/v1
// events) has one Kind per version sharing one Storage version.
//
// The HTTP layer does the generic parts itself: metadata (uid,
// creationTimestamp, generation bumped when anything outside metadata and
// status changes), keeping status on main-resource updates and everything but
// status on /status updates (for kinds with a "status" subresource),
// metadata.name/metadata.namespace field selectors. Function fields may be nil.
type Kind struct {
	GVK        schema.GroupVersionKind
	Resource   string // plural, as in URLs: "pods"
	Singular   string
	ShortNames []string
	Categories []string
	Namespaced bool
	// Subresources served besides the resource itself: "status", "scale",
	// "binding", "eviction", "log", "exec", "attach", "portforward", "proxy".
	Subresources []string

	// Storage is the version objects are kept in etcd as, under the key
	// /registry/<Storage.Group or "core">/<Resource>/[<namespace>/]<name>... see
	// StorageResource. Equal to GVK for single-version kinds.
	Storage schema.GroupVersionKind
	// StorageResource is the resource name in etcd keys (shared by all
	// versions of a multi-version resource).
	StorageResource string
	// ToStorage and FromStorage convert between GVK and Storage; nil when equal.
	ToStorage   func(obj runtime.Object) (runtime.Object, error)
	FromStorage func(obj runtime.Object) (runtime.Object, error)

	// New returns an empty object of GVK's Go type; NewList its list type.
	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills the fields a user may omit, as upstream's defaulters do.
	// Called on create and update (after patching), before validation.
	Default func(obj runtime.Object)
	// PrepareForCreate clears what a client may not set on create (status,
	// for most kinds) and sets what the server owns.
	PrepareForCreate func(obj runtime.Object)
	// Validate and ValidateUpdate return upstream's messages; the HTTP layer
	// turns a non-empty list into a 422 Invalid Status.
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList

	// Fields returns the extra fields this kind can be selected by (for
	// example spec.nodeName and status.phase for pods). The HTTP layer adds
	// metadata.name and metadata.namespace itself.
	Fields func(obj runtime.Object) fields.Set

	// Columns and Row make the Table kubectl prints: Row returns one cell per
	// column, Name first, values already formatted (AGE as HumanDuration).
	// Nil means the default Name/Age table.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object) []interface{}

	// GetScale and SetScale back the scale subresource.
	GetScale func(obj runtime.Object) *autoscalingv1.Scale
	SetScale func(obj runtime.Object, replicas int32)
}

// HasSubresource reports whether k serves sub.
func (k *Kind) HasSubresource(sub string) bool {
	for _, s := range k.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// GroupVersionResource is the resource's served identity.
func (k *Kind) GroupVersionResource() schema.GroupVersionResource {
	return k.GVK.GroupVersion().WithResource(k.Resource)
}

// All returns every served kind, in discovery order (the first version listed
// for a group is its preferred version).
func All() []*Kind { return registry }
