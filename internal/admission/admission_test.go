package admission

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func pod(ns, name string, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: "busybox"}}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("pod-" + name)},
		Spec: corev1.PodSpec{Containers: containers}}
}

func withResources(req, lim string) corev1.Container {
	c := corev1.Container{Name: "app", Image: "busybox"}
	if req != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req)}
	}
	if lim != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim)}
	}
	return c
}

// statusOf returns code and message of an admission refusal.
func statusOf(t *testing.T, err error) (int32, string) {
	t.Helper()
	var se *apierrors.StatusError
	if err == nil {
		return 0, ""
	}
	if !asStatus(err, &se) {
		t.Fatalf("error %v is not a StatusError", err)
	}
	return se.ErrStatus.Code, se.ErrStatus.Message
}

func asStatus(err error, se **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*se = s
	return ok
}

func TestNamespaceLifecycle(t *testing.T) {
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	p, _, _ := newTestPlugins(t, terminating)
	ctx := context.Background()
	tests := []struct {
		name     string
		attrs    *Attributes
		wantCode int32
		wantMsg  string
	}{
		{"create in existing namespace", create(pod("default", "a"), "pods"), 0, ""},
		{"create in missing namespace", create(pod("nope", "a"), "pods"), http.StatusNotFound, `namespaces "nope" not found`},
		{"create in terminating namespace", create(pod("gone", "a"), "pods"), http.StatusForbidden,
			`pods "a" is forbidden: unable to create new content in namespace gone because it is being terminated`},
		{"delete kube-system", &Attributes{Operation: Delete, Kind: kind("namespaces"), Name: "kube-system"}, http.StatusForbidden,
			`namespaces "kube-system" is forbidden: this namespace may not be deleted`},
		{"delete another namespace", &Attributes{Operation: Delete, Kind: kind("namespaces"), Name: "gone"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := statusOf(t, p.Admit(ctx, tc.attrs))
			if code != tc.wantCode || msg != tc.wantMsg {
				t.Errorf("Admit = %d %q, want %d %q", code, msg, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func TestPodDefaults(t *testing.T) {
	p, _, _ := newTestPlugins(t)
	po := pod("default", "a")
	if err := p.Admit(context.Background(), create(po, "pods")); err != nil {
		t.Fatal(err)
	}
	if po.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName = %q, want default", po.Spec.ServiceAccountName)
	}
	if len(po.Spec.Tolerations) != 2 || *po.Spec.Tolerations[0].TolerationSeconds != 300 ||
		po.Spec.Tolerations[0].Key != corev1.TaintNodeNotReady || po.Spec.Tolerations[1].Key != corev1.TaintNodeUnreachable {
		t.Errorf("tolerations = %+v, want not-ready and unreachable for 300s", po.Spec.Tolerations)
	}
}

func TestServiceAccountLookup(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "builder"}}
	p, _, _ := newTestPlugins(t, sa)
	ctx := context.Background()
	for _, tc := range []struct{ account, wantErr string }{
		{"", ""},
		{"default", ""},
		{"builder", ""},
		{"ghost", `pods "a" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found`},
	} {
		po := pod("default", "a")
		po.Spec.ServiceAccountName = tc.account
		if _, msg := statusOf(t, p.Admit(ctx, create(po, "pods"))); msg != tc.wantErr {
			t.Errorf("serviceAccountName %q: Admit = %q, want %q", tc.account, msg, tc.wantErr)
		}
	}
}

func TestLimitRange(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "lr"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			Min:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}}}
	tests := []struct {
		name             string
		container        corev1.Container
		wantReq, wantLim string
		wantErr          string
	}{
		{"defaults filled", withResources("", ""), "100m", "500m", ""},
		{"own values kept", withResources("200m", "800m"), "200m", "800m", ""},
		{"over max", withResources("200m", "2"), "", "", `pods "a" is forbidden: maximum cpu usage per Container is 1, but limit is 2`},
		{"under min", withResources("10m", "500m"), "", "", `pods "a" is forbidden: minimum cpu usage per Container is 50m, but request is 10m`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestPlugins(t, lr)
			po := pod("default", "a", tc.container)
			_, msg := statusOf(t, p.Admit(context.Background(), create(po, "pods")))
			if msg != tc.wantErr {
				t.Fatalf("Admit message = %q, want %q", msg, tc.wantErr)
			}
			if tc.wantErr != "" {
				return
			}
			r := po.Spec.Containers[0].Resources
			if got := r.Requests.Cpu().String(); got != tc.wantReq {
				t.Errorf("request = %s, want %s", got, tc.wantReq)
			}
			if got := r.Limits.Cpu().String(); got != tc.wantLim {
				t.Errorf("limit = %s, want %s", got, tc.wantLim)
			}
		})
	}
}

func TestResourceQuota(t *testing.T) {
	quota := func(hard corev1.ResourceList) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	}
	running := func(name string) *corev1.Pod {
		po := pod("default", name)
		po.Status.Phase = corev1.PodRunning
		return po
	}
	done := pod("default", "done")
	done.Status.Phase = corev1.PodSucceeded
	tests := []struct {
		name    string
		objs    []runtime.Object
		attrs   *Attributes
		wantErr string
	}{
		{"under the pod count", []runtime.Object{quota(corev1.ResourceList{"pods": resource.MustParse("2")}), running("p1")},
			create(pod("default", "a"), "pods"), ""},
		{"at the pod count", []runtime.Object{quota(corev1.ResourceList{"pods": resource.MustParse("2")}), running("p1"), running("p2")},
			create(pod("default", "a"), "pods"),
			`pods "a" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`},
		{"finished pods do not count", []runtime.Object{quota(corev1.ResourceList{"pods": resource.MustParse("1")}), done},
			create(pod("default", "a"), "pods"), ""},
		{"cpu requests over", []runtime.Object{quota(corev1.ResourceList{"requests.cpu": resource.MustParse("1")})},
			create(pod("default", "a", withResources("1500m", "")), "pods"),
			`pods "a" is forbidden: exceeded quota: q, requested: requests.cpu=1500m, used: requests.cpu=0, limited: requests.cpu=1`},
		{"cpu request missing", []runtime.Object{quota(corev1.ResourceList{"requests.cpu": resource.MustParse("1"), "limits.cpu": resource.MustParse("2")})},
			create(pod("default", "a"), "pods"),
			`pods "a" is forbidden: failed quota: q: must specify limits.cpu for: app; requests.cpu for: app`},
		{"service turning NodePort", []runtime.Object{quota(corev1.ResourceList{"services.nodeports": resource.MustParse("0")}),
			service("s", corev1.ServiceTypeClusterIP, "10.96.0.30")},
			&Attributes{Operation: Update, Kind: kind("services"), Namespace: "default", Name: "s",
				Object: service("s", corev1.ServiceTypeNodePort, "10.96.0.30"), OldObject: service("s", corev1.ServiceTypeClusterIP, "10.96.0.30")},
			`services "s" is forbidden: exceeded quota: q, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0`},
		{"configmap count", []runtime.Object{quota(corev1.ResourceList{"count/configmaps": resource.MustParse("1")}),
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "c1", UID: "c1"}}},
			create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "c2", UID: "c2"}}, "configmaps"),
			`configmaps "c2" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestPlugins(t, tc.objs...)
			_, msg := statusOf(t, p.Admit(context.Background(), tc.attrs))
			if msg != tc.wantErr {
				t.Errorf("Admit message = %q, want %q", msg, tc.wantErr)
			}
		})
	}
}

// TestQuotaInFlight: creates admitted but not yet listed still count, and
// a failed create gives its charge back.
func TestQuotaInFlight(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("1")}}}
	p, _, _ := newTestPlugins(t, q)
	ctx := context.Background()
	first := create(pod("default", "a"), "pods")
	if err := p.Admit(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := p.Admit(ctx, create(pod("default", "b"), "pods")); err == nil {
		t.Fatal("second pod admitted while the first is in flight, want refusal")
	}
	p.Release(ctx, first)
	if err := p.Admit(ctx, create(pod("default", "c"), "pods")); err != nil {
		t.Fatalf("after the first create failed: %v", err)
	}
}

func service(name string, typ corev1.ServiceType, clusterIP string, nodePorts ...int32) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("svc-" + name)},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP}}
	if clusterIP != "" {
		svc.Spec.ClusterIPs = []string{clusterIP}
	}
	if len(nodePorts) == 0 {
		nodePorts = []int32{0}
	}
	for i, np := range nodePorts {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprint("p", i), Port: 80 + int32(i), Protocol: corev1.ProtocolTCP, NodePort: np})
	}
	return svc
}

func TestServiceAllocation(t *testing.T) {
	tests := []struct {
		name     string
		before   []*corev1.Service
		svc      *corev1.Service
		wantCode int32
		wantMsg  string
	}{
		{"random IP", nil, service("a", corev1.ServiceTypeClusterIP, ""), 0, ""},
		{"requested IP", nil, service("a", corev1.ServiceTypeClusterIP, "10.96.0.20"), 0, ""},
		{"requested IP taken", []*corev1.Service{service("b", corev1.ServiceTypeClusterIP, "10.96.0.20")},
			service("a", corev1.ServiceTypeClusterIP, "10.96.0.20"), http.StatusUnprocessableEntity,
			`Service "a" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.20"]: failed to allocate IP 10.96.0.20: provided IP is already allocated`},
		{"requested IP out of range", nil, service("a", corev1.ServiceTypeClusterIP, "10.0.0.5"), http.StatusUnprocessableEntity,
			`Service "a" is invalid: spec.clusterIPs: Invalid value: ["10.0.0.5"]: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/24`},
		{"same service created again", []*corev1.Service{service("a", corev1.ServiceTypeClusterIP, "10.96.0.20")},
			service("a", corev1.ServiceTypeClusterIP, "10.96.0.20"), http.StatusConflict, `services "a" already exists`},
		{"headless", nil, service("a", corev1.ServiceTypeClusterIP, "None"), 0, ""},
		{"node port taken", []*corev1.Service{service("b", corev1.ServiceTypeNodePort, "", 30005)},
			service("a", corev1.ServiceTypeNodePort, "", 30005), http.StatusUnprocessableEntity,
			`Service "a" is invalid: spec.ports[0].nodePort: Invalid value: 30005: provided port is already allocated`},
		{"node port out of range", nil, service("a", corev1.ServiceTypeNodePort, "", 40000), http.StatusUnprocessableEntity,
			`Service "a" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-30009`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, claims, _ := newTestPlugins(t)
			ctx := context.Background()
			for _, b := range tc.before {
				if err := p.Admit(ctx, create(b, "services")); err != nil {
					t.Fatalf("admit %s: %v", b.Name, err)
				}
			}
			before := len(claims.m)
			code, msg := statusOf(t, p.Admit(ctx, create(tc.svc, "services")))
			if code != tc.wantCode || msg != tc.wantMsg {
				t.Fatalf("Admit = %d %q, want %d %q", code, msg, tc.wantCode, tc.wantMsg)
			}
			if tc.wantCode != 0 {
				if len(claims.m) != before {
					t.Errorf("a refused create left claims: %v", claims.m)
				}
				return
			}
			if tc.svc.Spec.ClusterIP == "" || tc.svc.Spec.ClusterIPs[0] != tc.svc.Spec.ClusterIP {
				t.Errorf("clusterIP %q clusterIPs %v after admission", tc.svc.Spec.ClusterIP, tc.svc.Spec.ClusterIPs)
			}
			// Release of the create (a failed write) frees what it took.
			p.Release(ctx, create(tc.svc, "services"))
			if len(claims.m) != before {
				t.Errorf("claims after Release = %v, want %d", claims.m, before)
			}
		})
	}
}

func TestServiceNodePortsAndDelete(t *testing.T) {
	p, claims, _ := newTestPlugins(t)
	ctx := context.Background()
	svc := service("a", corev1.ServiceTypeNodePort, "", 0, 0)
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	if err := p.Admit(ctx, create(svc, "services")); err != nil {
		t.Fatal(err)
	}
	for _, port := range svc.Spec.Ports {
		if port.NodePort < 30000 || port.NodePort > 30009 {
			t.Errorf("nodePort %d outside 30000-30009", port.NodePort)
		}
	}
	if svc.Spec.Ports[0].NodePort == svc.Spec.Ports[1].NodePort {
		t.Errorf("both ports got %d", svc.Spec.Ports[0].NodePort)
	}
	if len(claims.m) != 3 {
		t.Fatalf("claims = %v, want an IP and two ports", claims.m)
	}

	// An update to ClusterIP drops the node ports and keeps the IP.
	upd := svc.DeepCopy()
	upd.Spec.Type = corev1.ServiceTypeClusterIP
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs = "", nil
	if err := p.Admit(ctx, &Attributes{Operation: Update, Kind: kind("services"), Namespace: "default", Name: "a", Object: upd, OldObject: svc}); err != nil {
		t.Fatal(err)
	}
	if upd.Spec.ClusterIP != svc.Spec.ClusterIP || upd.Spec.Ports[0].NodePort != 0 {
		t.Errorf("after update: clusterIP %q (want %q), nodePort %d (want 0)", upd.Spec.ClusterIP, svc.Spec.ClusterIP, upd.Spec.Ports[0].NodePort)
	}
	if len(claims.m) != 1 {
		t.Errorf("claims after update = %v, want only the IP", claims.m)
	}
	if upd.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("externalTrafficPolicy %q kept on a ClusterIP service", upd.Spec.ExternalTrafficPolicy)
	}

	p.Release(ctx, &Attributes{Operation: Delete, Kind: kind("services"), Namespace: "default", Name: "a", OldObject: upd})
	if len(claims.m) != 0 {
		t.Errorf("claims after delete = %v, want none", claims.m)
	}
}

func TestIPRangeExhaustion(t *testing.T) {
	p, _, _ := newTestPlugins(t)
	ctx := context.Background()
	// 10.96.0.0/24: 254 usable, offset 1 kept for the kubernetes service.
	for i := 0; i < 253; i++ {
		if err := p.Admit(ctx, create(service(fmt.Sprint("s", i), corev1.ServiceTypeClusterIP, ""), "services")); err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
	}
	code, msg := statusOf(t, p.Admit(ctx, create(service("full", corev1.ServiceTypeClusterIP, ""), "services")))
	if code != http.StatusInternalServerError || !strings.Contains(msg, "failed to allocate a serviceIP: range is full") {
		t.Errorf("Admit on a full range = %d %q", code, msg)
	}
}

// TestConcurrentAllocation: services created at once never share an IP or
// a NodePort.
func TestConcurrentAllocation(t *testing.T) {
	p, _, _ := newTestPlugins(t)
	ctx := context.Background()
	const n = 10 // the test range has 10 NodePorts
	svcs := make([]*corev1.Service, n)
	errs := make(chan error, n)
	for i := range svcs {
		svcs[i] = service(fmt.Sprint("s", i), corev1.ServiceTypeNodePort, "")
		go func(s *corev1.Service) { errs <- p.Admit(ctx, create(s, "services")) }(svcs[i])
	}
	for range svcs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ips, ports := map[string]bool{}, map[int32]bool{}
	for _, s := range svcs {
		if ips[s.Spec.ClusterIP] || ports[s.Spec.Ports[0].NodePort] {
			t.Errorf("%s got a taken IP %s or port %d", s.Name, s.Spec.ClusterIP, s.Spec.Ports[0].NodePort)
		}
		ips[s.Spec.ClusterIP], ports[s.Spec.Ports[0].NodePort] = true, true
	}
}
