package admission

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// memClaims is an in-memory Claims.
type memClaims struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *memClaims) Claim(_ context.Context, key, owner string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return false, nil
	}
	c.m[key] = owner
	return true, nil
}

func (c *memClaims) Unclaim(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

func (c *memClaims) List(_ context.Context, prefix string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for k, v := range c.m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}

// memReader serves objects by resource and namespace.
type memReader struct{ objs []runtime.Object }

func (r *memReader) Get(_ context.Context, k *kinds.Kind, ns, name string) (runtime.Object, error) {
	for _, o := range r.objs {
		m := metaOf(o)
		if resourceOf(o) == k.Resource && m.GetNamespace() == ns && m.GetName() == name {
			return o, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: k.Resource}, name)
}

func (r *memReader) List(_ context.Context, k *kinds.Kind, ns string) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, o := range r.objs {
		if resourceOf(o) == k.Resource && (ns == "" || metaOf(o).GetNamespace() == ns) {
			out = append(out, o)
		}
	}
	return out, nil
}

func resourceOf(o runtime.Object) string {
	switch o.(type) {
	case *corev1.Namespace:
		return "namespaces"
	case *corev1.Pod:
		return "pods"
	case *corev1.Service:
		return "services"
	case *corev1.ResourceQuota:
		return "resourcequotas"
	case *corev1.LimitRange:
		return "limitranges"
	case *corev1.ConfigMap:
		return "configmaps"
	case *corev1.ServiceAccount:
		return "serviceaccounts"
	case *schedulingv1.PriorityClass:
		return "priorityclasses"
	case *storagev1.StorageClass:
		return "storageclasses"
	}
	return ""
}

func newTestPlugins(t *testing.T, objs ...runtime.Object) (*Plugins, *memClaims, *memReader) {
	t.Helper()
	claims := &memClaims{m: map[string]string{}}
	reader := &memReader{objs: append([]runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
	}, objs...)}
	p, err := New(Config{Claims: claims, Reader: reader, ServiceCIDR: netip.MustParsePrefix("10.96.0.0/24"),
		NodePorts: PortRange{First: 30000, Last: 30009}})
	if err != nil {
		t.Fatal(err)
	}
	return p, claims, reader
}

func kind(resource string) *kinds.Kind {
	return kinds.Lookup(schema.GroupVersionResource{Version: "v1", Resource: resource})
}

func create(obj runtime.Object, resource string) *Attributes {
	m := metaOf(obj)
	return &Attributes{Operation: Create, Kind: kind(resource), Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj}
}
