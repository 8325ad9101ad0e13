package dns

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// EnsureService creates the kube-system/kube-dns Service with clusterIP ip
// (ports 53/UDP, 53/TCP, 9153/TCP as upstream's), so the address is
// reserved and pods' resolv.conf points at a real Service. It has no
// selector: each node's proxy sends its ports to that node's own DNS
// listener. It retries until the API server accepts it or ctx ends.
func EnsureService(ctx context.Context, kube kubernetes.Interface, ip string, log *slog.Logger) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "berth-dns"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: ip,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9153)},
			},
		},
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := kube.CoreV1().Services(svc.Namespace).Create(actx, svc, metav1.CreateOptions{FieldManager: "berth-dns"})
		cancel()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if apierrors.IsInvalid(err) {
			return fmt.Errorf("create service kube-system/kube-dns: %w", err)
		}
		// The namespace or the API server may not be there yet.
		log.Debug("create kube-dns service, will retry", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("create service kube-system/kube-dns: %w", err)
		case <-time.After(time.Second):
		}
	}
}
