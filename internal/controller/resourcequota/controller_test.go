package resourcequota

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
)

func podWith(name string, phase corev1.PodPhase, cpu string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"}, Status: corev1.PodStatus{Phase: phase},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return p
}

func TestPodUsage(t *testing.T) {
	pods := []*corev1.Pod{podWith("a", corev1.PodRunning, "250m"), podWith("b", corev1.PodPending, "500m"),
		podWith("done", corev1.PodSucceeded, "1"), podWith("be", corev1.PodRunning, "")}
	tests := []struct {
		name   string
		scopes []corev1.ResourceQuotaScope
		pods   int64
		cpu    string
	}{
		{"all", nil, 3, "750m"},
		{"BestEffort", []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}, 1, "0"},
		{"NotBestEffort", []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}, 2, "750m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := podUsage(pods, tc.scopes)
			cpu := u["requests.cpu"]
			if p := u[corev1.ResourcePods]; p.Value() != tc.pods || cpu.Cmp(resource.MustParse(tc.cpu)) != 0 {
				t.Errorf("podUsage() pods=%s requests.cpu=%s, want %d and %s", p.String(), cpu.String(), tc.pods, tc.cpu)
			}
		})
	}
}

func TestSyncWritesUsed(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "team"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("10"), "requests.cpu": resource.MustParse("2"),
			corev1.ResourceConfigMaps: resource.MustParse("5"), "limits.memory": resource.MustParse("1Gi"),
		}}}
	pod := podWith("a", corev1.PodRunning, "250m")
	cs := fake.NewSimpleClientset(q, pod)
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "team"}}
	md := metafake.NewSimpleMetadataClient(scheme, cm)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, md, inf, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := inf.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(q); err != nil {
		t.Fatal(err)
	}
	if err := inf.Core().V1().Pods().Informer().GetIndexer().Add(pod); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(context.Background(), "team/q"); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().ResourceQuotas("team").Get(context.Background(), "q", metav1.GetOptions{})
	want := map[corev1.ResourceName]string{corev1.ResourcePods: "1", "requests.cpu": "250m", corev1.ResourceConfigMaps: "1", "limits.memory": "0"}
	for r, w := range want {
		v := got.Status.Used[r]
		if v.Cmp(resource.MustParse(w)) != 0 {
			t.Errorf("used[%s] = %s, want %s", r, v.String(), w)
		}
	}
	if len(got.Status.Hard) != 4 {
		t.Errorf("status.hard = %v, want spec.hard", got.Status.Hard)
	}
}
