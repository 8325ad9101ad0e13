package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	utilptr "k8s.io/utils/ptr"
)

// The default/kubernetes Endpoints list every API server that is alive, as
// upstream's lease endpoint reconciler does: each server renews a Lease
// named for its address and writes the addresses whose Leases are fresh.
// So with several servers (HA), pods reaching kubernetes.default lose a
// dead server within endpointLeaseTTL instead of keeping whichever address
// was written last.
const (
	endpointLeaseTTL      = 15 * time.Second
	endpointLeaseInterval = 5 * time.Second
	endpointLeaseLabel    = "apiserver.berth.dev/endpoint"
)

// RunEndpointLeases keeps this server's Lease and the kubernetes Endpoints
// up to date until ctx is done, then deletes its Lease so the others drop
// its address at once.
func RunEndpointLeases(ctx context.Context, cfg *rest.Config, advertise string, port int, log *slog.Logger) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	t := time.NewTicker(endpointLeaseInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// ctx is done, so the delete needs a context of its own.
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = cs.CoordinationV1().Leases(metav1.NamespaceSystem).Delete(dctx, endpointLeaseName(advertise), metav1.DeleteOptions{})
			return nil
		case <-t.C:
			if err := reconcileKubernetesEndpoints(ctx, cs, advertise, port, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("kubernetes endpoints", "err", err)
			}
		}
	}
}

func endpointLeaseName(advertise string) string {
	return "berth-apiserver-" + strings.NewReplacer(".", "-", ":", "-").Replace(advertise)
}

// reconcileKubernetesEndpoints renews this server's Lease, then writes the
// addresses of every fresh Lease into the kubernetes Endpoints and
// EndpointSlice.
func reconcileKubernetesEndpoints(ctx context.Context, cs kubernetes.Interface, advertise string, port int, now time.Time) error {
	if ip := net.ParseIP(advertise); ip == nil || ip.To4() == nil {
		return nil // the endpoints need an IPv4 address
	}
	if err := renewEndpointLease(ctx, cs, advertise, now); err != nil {
		return err
	}
	leases, err := cs.CoordinationV1().Leases(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: endpointLeaseLabel + "=true"})
	if err != nil {
		return fmt.Errorf("list endpoint leases: %w", err)
	}
	return writeKubernetesEndpoints(ctx, cs, liveAddresses(leases.Items, now), port)
}

// liveAddresses are the holders of Leases renewed within their duration, sorted.
func liveAddresses(leases []coordinationv1.Lease, now time.Time) []string {
	var ips []string
	for _, l := range leases {
		if l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			continue
		}
		if now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)) {
			ips = append(ips, *l.Spec.HolderIdentity)
		}
	}
	slices.Sort(ips)
	return slices.Compact(ips)
}

func renewEndpointLease(ctx context.Context, cs kubernetes.Interface, advertise string, now time.Time) error {
	leases := cs.CoordinationV1().Leases(metav1.NamespaceSystem)
	spec := coordinationv1.LeaseSpec{HolderIdentity: utilptr.To(advertise), LeaseDurationSeconds: utilptr.To(int32(endpointLeaseTTL / time.Second)),
		RenewTime: &metav1.MicroTime{Time: now}}
	name := endpointLeaseName(advertise)
	return upsert(func() error {
		_, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{endpointLeaseLabel: "true"}},
			Spec: spec}, metav1.CreateOptions{FieldManager: bootstrapManager})
		return err
	}, func() error {
		cur, err := leases.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec = spec
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{FieldManager: bootstrapManager})
		return err
	})
}

// writeKubernetesEndpoints makes default/kubernetes' Endpoints and
// EndpointSlice list ips (no write when they already do).
func writeKubernetesEndpoints(ctx context.Context, cs kubernetes.Interface, ips []string, port int) error {
	create := metav1.CreateOptions{FieldManager: bootstrapManager}
	update := metav1.UpdateOptions{FieldManager: bootstrapManager}
	addrs := make([]corev1.EndpointAddress, len(ips))
	for i, ip := range ips {
		addrs[i] = corev1.EndpointAddress{IP: ip}
	}
	var subsets []corev1.EndpointSubset
	if len(addrs) > 0 {
		subsets = []corev1.EndpointSubset{{Addresses: addrs,
			Ports: []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}}}
	}
	labels := map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}
	eps := cs.CoreV1().Endpoints(metav1.NamespaceDefault)
	if err := upsert(func() error {
		_, err := eps.Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Labels: labels}, Subsets: subsets}, create)
		return err
	}, func() error {
		cur, err := eps.Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sameSubsets(cur.Subsets, subsets) {
			return nil
		}
		cur.Subsets, cur.Labels = subsets, labels
		_, err = eps.Update(ctx, cur, update)
		return err
	}); err != nil {
		return fmt.Errorf("endpoints default/kubernetes: %w", err)
	}

	name, proto, p := "https", corev1.ProtocolTCP, int32(port)
	endpoints := make([]discoveryv1.Endpoint, len(ips))
	for i, ip := range ips {
		endpoints[i] = discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: utilptr.To(true)}}
	}
	sliceLabels := map[string]string{discoveryv1.LabelServiceName: "kubernetes"}
	ports := []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &p}}
	sl := cs.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	if err := upsert(func() error {
		_, err := sl.Create(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Labels: sliceLabels},
			AddressType: discoveryv1.AddressTypeIPv4, Endpoints: endpoints, Ports: ports}, create)
		return err
	}, func() error {
		cur, err := sl.Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sameSliceAddresses(cur.Endpoints, ips) && len(cur.Ports) == 1 && cur.Ports[0].Port != nil && *cur.Ports[0].Port == p {
			return nil
		}
		cur.Endpoints, cur.Ports, cur.Labels = endpoints, ports, sliceLabels
		_, err = sl.Update(ctx, cur, update)
		return err
	}); err != nil {
		return fmt.Errorf("endpointslice default/kubernetes: %w", err)
	}
	return nil
}

func sameSubsets(a, b []corev1.EndpointSubset) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i].Addresses) != len(b[i].Addresses) || len(a[i].Ports) != len(b[i].Ports) || a[i].Ports[0] != b[i].Ports[0] {
			return false
		}
		for j := range a[i].Addresses {
			if a[i].Addresses[j].IP != b[i].Addresses[j].IP {
				return false
			}
		}
	}
	return true
}

func sameSliceAddresses(eps []discoveryv1.Endpoint, ips []string) bool {
	if len(eps) != len(ips) {
		return false
	}
	for i, e := range eps {
		if len(e.Addresses) != 1 || e.Addresses[0] != ips[i] {
			return false
		}
	}
	return true
}
