package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// Reader is read access to stored objects, in the served version of k.
// The API server implements it over its storage (admission must not import
// internal/storage).
type Reader interface {
	// Get returns one object, or an error for which apierrors.IsNotFound
	// is true.
	Get(ctx context.Context, k *kinds.Kind, namespace, name string) (runtime.Object, error)
	// List returns every object of k in namespace ("" lists all
	// namespaces), read fresh from storage.
	List(ctx context.Context, k *kinds.Kind, namespace string) ([]runtime.Object, error)
}

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last int }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Config is what New needs.
type Config struct {
	// Claims reserves ClusterIPs and NodePorts across API servers.
	Claims Claims
	// Reader reads namespaces, LimitRanges, ResourceQuotas and the objects
	// quota counts.
	Reader Reader
	// ServiceCIDR is where ClusterIPs come from (default 10.96.0.0/12).
	ServiceCIDR netip.Prefix
	// NodePorts is the NodePort range (default 30000-32767).
	NodePorts PortRange
	Log       *slog.Logger
}

// Plugins is berth's admission chain, in upstream's order: NamespaceLifecycle,
// LimitRanger, ServiceAccount, DefaultTolerationSeconds, Priority,
// PodSecurity (enforce), DefaultStorageClass and ResourceQuota, then the Service ClusterIP/NodePort allocation upstream does
// in its REST layer. It is safe for concurrent use.
type Plugins struct {
	claims Claims
	reader Reader
	ips    *ipAllocator
	ports  *portAllocator
	quota  quotaTracker
	cache  listCache

	repairMu sync.Mutex
	suspect  map[string]string // claims found stale by the last Repair
	log      *slog.Logger
}

// New returns the admission chain. Claims and Reader are required; the
// ranges default to 10.96.0.0/12 and 30000-32767. Once the API server
// serves, run Run (the claim repair loop) beside it.
func New(cfg Config) (*Plugins, error) {
	if cfg.Claims == nil || cfg.Reader == nil {
		return nil, errors.New("admission: Claims and Reader are required")
	}
	if !cfg.ServiceCIDR.IsValid() {
		cfg.ServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")
	}
	if cfg.NodePorts == (PortRange{}) {
		cfg.NodePorts = PortRange{First: 30000, Last: 32767}
	}
	if cfg.NodePorts.First < 1 || cfg.NodePorts.Last > 65535 || cfg.NodePorts.First > cfg.NodePorts.Last {
		return nil, fmt.Errorf("admission: invalid NodePort range %s", cfg.NodePorts)
	}
	ips, err := newIPAllocator(cfg.Claims, cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Plugins{
		claims: cfg.Claims,
		reader: cfg.Reader,
		ips:    ips,
		ports:  &portAllocator{claims: cfg.Claims, r: cfg.NodePorts},
		log:    cfg.Log,
	}, nil
}

var _ Interface = (*Plugins)(nil)

// Admit runs every plugin that applies to a; the first refusal wins and
// leaves nothing reserved. A write admitted here that then fails (or is a
// dry run) must be handed to Release: Admit may have claimed a ClusterIP or
// NodePort and counted the object against quota as in flight.
func (p *Plugins) Admit(ctx context.Context, a *Attributes) error {
	p.invalidateFor(a)
	if err := p.namespaceLifecycle(ctx, a); err != nil {
		return err
	}
	if a.Subresource != "" || a.Operation == Delete {
		return nil
	}
	if isCore(a.Kind, "namespaces") {
		if err := validatePodSecurityLabels(a); err != nil {
			return err
		}
	}
	if isCore(a.Kind, "pods") && a.Operation == Create {
		if err := p.limitRanger(ctx, a); err != nil {
			return err
		}
		defaultServiceAccount(a)
		sa, err := p.checkServiceAccount(ctx, a)
		if err != nil {
			return err
		}
		mountServiceAccountToken(a, sa)
		defaultTolerations(a)
		if err := p.priority(ctx, a); err != nil {
			return err
		}
	}
	if a.Operation == Create || a.Operation == Update {
		if err := p.podSecurity(ctx, a); err != nil {
			return err
		}
	}
	if isCore(a.Kind, "persistentvolumeclaims") && a.Operation == Create {
		if err := p.claimLimitRanger(ctx, a); err != nil {
			return err
		}
		if err := p.defaultStorageClass(ctx, a); err != nil {
			return err
		}
	}
	if err := p.resourceQuota(ctx, a); err != nil {
		return err
	}
	if isCore(a.Kind, "services") {
		return p.allocateService(ctx, a)
	}
	return nil
}

// Release undoes Admit's reservations for a write that failed or was a dry
// run, and frees a deleted Service's ClusterIP and NodePorts.
func (p *Plugins) Release(ctx context.Context, a *Attributes) {
	if a.Subresource != "" {
		return
	}
	if a.Operation == Create {
		p.quota.forget(metaOf(a.Object).GetUID())
	}
	if isCore(a.Kind, "services") {
		p.releaseService(ctx, a)
	}
}

func metaOf(obj runtime.Object) metav1.Object {
	return obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
}

func isCore(k *kinds.Kind, resource string) bool {
	return k != nil && k.GVK.Group == "" && k.Resource == resource
}

// forbidden is upstream's admission.NewForbidden: "<resource> "<name>" is
// forbidden: <err>".
func forbidden(a *Attributes, err error) error {
	gr := schema.GroupResource{Group: a.Kind.GVK.Group, Resource: a.Kind.Resource}
	return apierrors.NewForbidden(gr, a.Name, err)
}

// coreKind finds the served core/v1 kind for resource.
func coreKind(resource string) *kinds.Kind {
	return kinds.Lookup(schema.GroupVersionResource{Version: "v1", Resource: resource})
}
