package apiserver

import (
	"context"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const bootstrapManager = "berth-apiserver"

// Bootstrap creates, through the API (so admission runs), what must exist
// in every cluster: the system namespaces and the default/kubernetes
// Service (at serviceIP, the first address of the service range) with
// Endpoints and EndpointSlice pointing at this API server.
func Bootstrap(ctx context.Context, cfg *rest.Config, serviceIP, advertise string, port int) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	create := metav1.CreateOptions{FieldManager: bootstrapManager}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, create)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       serviceIP,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(port))}},
		},
	}
	// Get first: on a restart a create would fail in admission (the IP is
	// taken, by this very Service) before storage could say AlreadyExists.
	if _, err := cs.CoreV1().Services("default").Get(ctx, svc.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = cs.CoreV1().Services("default").Create(ctx, svc, create)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service default/kubernetes: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("get service default/kubernetes: %w", err)
	}
	if ip := net.ParseIP(advertise); ip == nil || ip.To4() == nil {
		return nil // the endpoints need an IPv4 address
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: advertise}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := upsert(func() error {
		_, err := cs.CoreV1().Endpoints("default").Create(ctx, ep, create)
		return err
	}, func() error {
		cur, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Subsets, cur.Labels = ep.Subsets, ep.Labels
		_, err = cs.CoreV1().Endpoints("default").Update(ctx, cur, metav1.UpdateOptions{FieldManager: bootstrapManager})
		return err
	}); err != nil {
		return fmt.Errorf("endpoints default/kubernetes: %w", err)
	}
	ready := true
	name, proto, p := "https", corev1.ProtocolTCP, int32(port)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{advertise}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &p}},
	}
	if err := upsert(func() error {
		_, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, create)
		return err
	}, func() error {
		cur, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Endpoints, cur.Ports, cur.Labels = slice.Endpoints, slice.Ports, slice.Labels
		_, err = cs.DiscoveryV1().EndpointSlices("default").Update(ctx, cur, metav1.UpdateOptions{FieldManager: bootstrapManager})
		return err
	}); err != nil {
		return fmt.Errorf("endpointslice default/kubernetes: %w", err)
	}
	return nil
}

// upsert creates, or updates what exists (the advertise address may have changed).
func upsert(create, update func() error) error {
	err := create()
	if apierrors.IsAlreadyExists(err) {
		err = update()
	}
	return err
}
