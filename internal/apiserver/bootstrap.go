package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
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
// Endpoints and EndpointSlice that list this API server (RunEndpointLeases
// then keeps them listing every live server).
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
	return reconcileKubernetesEndpoints(ctx, cs, advertise, port, time.Now())
}

// upsert creates, or updates what exists (the advertise address may have changed).
func upsert(create, update func() error) error {
	err := create()
	if apierrors.IsAlreadyExists(err) {
		err = update()
	}
	return err
}
