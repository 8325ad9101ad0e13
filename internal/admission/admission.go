// Package admission holds the checks and mutations that run on every write
// after decoding and defaulting, before validation and storage: namespace
// lifecycle, ServiceAccount defaulting, LimitRange, ResourceQuota, Service
// ClusterIP and NodePort allocation.
//
// It must not import internal/apiserver; the API server calls it through
// Interface.
package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// Operation is the kind of write being admitted.
type Operation string

// The operations admitted.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Attributes describe one write. Object may be changed in place by mutating
// plugins; OldObject is the stored object on update and delete.
type Attributes struct {
	Operation   Operation
	Kind        *kinds.Kind
	Subresource string
	Namespace   string
	Name        string
	Object      runtime.Object
	OldObject   runtime.Object
	DryRun      bool
	User        string
	Groups      []string
	// Warnings are added by Admit for the client to see (PodSecurity's
	// warn mode); the API server sends each as a `Warning: 299 - "<text>"`
	// response header, as upstream does.
	Warnings []string
}

// Interface admits or refuses a write. A refusal is an error from
// k8s.io/apimachinery/pkg/api/errors (Forbidden, Invalid, ...), which the
// API server writes as the response Status as it is.
type Interface interface {
	Admit(ctx context.Context, a *Attributes) error
	// Release undoes what Admit reserved (an allocated ClusterIP, a NodePort)
	// when the write then fails or is a dry run, and when an object that holds
	// reservations is deleted.
	Release(ctx context.Context, a *Attributes)
}

// Claims is the etcd-backed store of exclusive reservations (one key per
// allocated ClusterIP or NodePort), so two API servers never hand out the
// same one. The API server implements it over its etcd client.
type Claims interface {
	// Claim creates key if absent and reports whether this call created it.
	Claim(ctx context.Context, key, owner string) (bool, error)
	// Unclaim deletes key.
	Unclaim(ctx context.Context, key string) error
	// List returns every claimed key under prefix with its owner.
	List(ctx context.Context, prefix string) (map[string]string, error)
}
