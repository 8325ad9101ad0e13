package apiserver

import (
	"context"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	utilptr "k8s.io/utils/ptr"
)

func lease(holder string, renewed time.Time) coordinationv1.Lease {
	return coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: endpointLeaseName(holder), Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{endpointLeaseLabel: "true"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: utilptr.To(holder), LeaseDurationSeconds: utilptr.To(int32(15)),
			RenewTime: &metav1.MicroTime{Time: renewed}},
	}
}

func TestLiveAddresses(t *testing.T) {
	now := time.Unix(1000, 0)
	got := liveAddresses([]coordinationv1.Lease{
		lease("10.0.0.3", now.Add(-5*time.Second)),
		lease("10.0.0.1", now),
		lease("10.0.0.2", now.Add(-16*time.Second)), // expired
		{Spec: coordinationv1.LeaseSpec{}},          // never renewed
	}, now)
	if want := []string{"10.0.0.1", "10.0.0.3"}; !slices.Equal(got, want) {
		t.Errorf("liveAddresses = %v, want %v", got, want)
	}
}

// TestReconcileKubernetesEndpoints: a second server's fresh Lease adds its
// address; once that Lease is stale, the address goes.
func TestReconcileKubernetesEndpoints(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	other := lease("172.20.0.3", now)
	cs := fake.NewSimpleClientset(&other)
	ips := func() []string {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				out = append(out, a.IP)
			}
		}
		sl, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sl.Endpoints) != len(out) {
			t.Errorf("EndpointSlice has %d endpoints, Endpoints %d addresses", len(sl.Endpoints), len(out))
		}
		return out
	}
	if err := reconcileKubernetesEndpoints(ctx, cs, "172.20.0.2", 6443, now); err != nil {
		t.Fatal(err)
	}
	if got, want := ips(), []string{"172.20.0.2", "172.20.0.3"}; !slices.Equal(got, want) {
		t.Errorf("with two live servers, endpoints = %v, want %v", got, want)
	}
	later := now.Add(20 * time.Second) // the other server stopped renewing
	if err := reconcileKubernetesEndpoints(ctx, cs, "172.20.0.2", 6443, later); err != nil {
		t.Fatal(err)
	}
	if got, want := ips(), []string{"172.20.0.2"}; !slices.Equal(got, want) {
		t.Errorf("after the other server's lease expired, endpoints = %v, want %v", got, want)
	}
}
