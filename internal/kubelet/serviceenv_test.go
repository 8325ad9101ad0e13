package kubelet

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestServiceEnvHasMasterService(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9", Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
	} {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	k := &Kubelet{services: corelisters.NewServiceLister(idx)}
	off := false
	for _, tc := range []struct {
		name    string
		ns      string
		links   *bool
		wantWeb bool
	}{
		{"default namespace", "default", nil, true},
		{"other namespace", "team", nil, false},
		{"default namespace without service links", "default", &off, false},
		{"other namespace without service links", "team", &off, false},
	} {
		env := k.serviceEnv(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns}, Spec: corev1.PodSpec{EnableServiceLinks: tc.links}})
		if !slices.Contains(env, "KUBERNETES_SERVICE_HOST=10.96.0.1") || !slices.Contains(env, "KUBERNETES_SERVICE_PORT=443") {
			t.Errorf("%s: no master service in %q", tc.name, env)
		}
		if got := slices.Contains(env, "WEB_SERVICE_HOST=10.96.0.9"); got != tc.wantWeb {
			t.Errorf("%s: WEB_SERVICE_HOST present=%v, want %v", tc.name, got, tc.wantWeb)
		}
	}
}
