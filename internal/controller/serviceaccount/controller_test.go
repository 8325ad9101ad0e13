package serviceaccount

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSync(t *testing.T) {
	tests := []struct {
		name   string
		phase  corev1.NamespacePhase
		wantSA bool
		wantCA bool
	}{
		{"active namespace gets default SA and CA", corev1.NamespaceActive, true, true},
		{"terminating namespace gets nothing", corev1.NamespaceTerminating, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: tc.phase}}
			cs := fake.NewSimpleClientset(ns)
			inf := informers.NewSharedInformerFactory(cs, 0)
			c, err := New(cs, inf, []byte("PEM"), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if err := inf.Core().V1().Namespaces().Informer().GetIndexer().Add(ns); err != nil {
				t.Fatal(err)
			}
			if err := c.sync(context.Background(), "team"); err != nil {
				t.Fatal(err)
			}
			_, err = cs.CoreV1().ServiceAccounts("team").Get(context.Background(), "default", metav1.GetOptions{})
			if (err == nil) != tc.wantSA {
				t.Errorf("default service account exists = %v, want %v", err == nil, tc.wantSA)
			}
			cm, err := cs.CoreV1().ConfigMaps("team").Get(context.Background(), RootCAConfigMap, metav1.GetOptions{})
			if (err == nil) != tc.wantCA || (err == nil && cm.Data["ca.crt"] != "PEM") {
				t.Errorf("kube-root-ca.crt = %v (err %v), want present=%v with ca.crt", cm, err, tc.wantCA)
			}
		})
	}
}
