package kinds

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fixedNow is the clock every row test runs at.
var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(fixedNow.Add(-d)) }

func withClock(t *testing.T) {
	t.Helper()
	now = func() time.Time { return fixedNow }
	t.Cleanup(func() { now = time.Now })
}

func kindFor(t *testing.T, group, version, resource string) *Kind {
	t.Helper()
	k := Lookup(schema.GroupVersionResource{Group: group, Version: version, Resource: resource})
	if k == nil {
		t.Fatalf("%s/%s %s not served", group, version, resource)
	}
	return k
}

func checkRow(t *testing.T, k *Kind, obj runtime.Object, want []interface{}) {
	t.Helper()
	got := k.Row(obj)
	if len(got) != len(k.Columns) {
		t.Errorf("row has %d cells for %d columns", len(got), len(k.Columns))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Row() = %#v\nwant    %#v", got, want)
	}
}

func running(ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func TestPodRow(t *testing.T) {
	withClock(t)
	k := kindFor(t, "", "v1", "pods")
	base := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(5 * time.Minute)},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}, NodeName: "node1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}}}}
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []interface{}
	}{
		{"pending, unscheduled", func(p *corev1.Pod) {
			p.Spec.NodeName, p.Status = "", corev1.PodStatus{Phase: corev1.PodPending}
		}, []interface{}{"web", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"running and ready", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running(true, 0)}
		}, []interface{}{"web", "1/1", "Running", "0", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"restarted", func(p *corev1.Pod) {
			cs := running(true, 3)
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(2 * time.Minute)}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		}, []interface{}{"web", "1/1", "Running", "3 (2m ago)", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"crash looping", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}, []interface{}{"web", "0/1", "CrashLoopBackOff", "4", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"completed", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}, []interface{}{"web", "0/1", "Completed", "0", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"exit code without reason", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}, []interface{}{"web", "0/1", "ExitCode:2", "0", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"init container running", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}, []interface{}{"web", "0/1", "Init:0/1", "0", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"terminating", func(p *corev1.Pod) {
			dt := ago(0)
			p.DeletionTimestamp = &dt
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running(true, 0)}
		}, []interface{}{"web", "1/1", "Terminating", "0", "5m", "10.244.0.5", "node1", "<none>", "<none>"}},
		{"readiness gates", func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: "a", Status: corev1.ConditionTrue}}
		}, []interface{}{"web", "0/1", "Running", "0", "5m", "10.244.0.5", "node1", "<none>", "1/2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mutate(p)
			checkRow(t, k, p, tc.want)
		})
	}
}

func TestServiceRow(t *testing.T) {
	withClock(t)
	k := kindFor(t, "", "v1", "services")
	created := ago(2 * time.Hour)
	tests := []struct {
		name string
		svc  corev1.Service
		want []interface{}
	}{
		{"cluster IP with external IP", corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello-svc", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.20"}, ExternalIPs: []string{"192.168.56.30"},
				Selector: map[string]string{"app": "hello"}, Ports: []corev1.ServicePort{{Port: 8200, Protocol: corev1.ProtocolTCP}}}},
			[]interface{}{"hello-svc", "ClusterIP", "10.96.0.20", "192.168.56.30", "8200/TCP", "120m", "app=hello"}},
		{"node port", corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.0.21"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}, {Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}}},
			[]interface{}{"np", "NodePort", "10.96.0.21", "<none>", "80:30080/TCP,53:30053/UDP", "120m", "<none>"}},
		{"load balancer pending", corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.22"}}},
			[]interface{}{"lb", "LoadBalancer", "10.96.0.22", "<pending>", "<none>", "120m", "<none>"}},
		{"load balancer with ingress", corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb", CreationTimestamp: created},
			Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.22"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.20.0.2"}}}}},
			[]interface{}{"lb", "LoadBalancer", "10.96.0.22", "172.20.0.2", "<none>", "120m", "<none>"}},
		{"headless", corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "h", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"None"}}},
			[]interface{}{"h", "ClusterIP", "None", "<none>", "<none>", "120m", "<none>"}},
		{"external name", corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
			[]interface{}{"x", "ExternalName", "<none>", "example.com", "<none>", "120m", "<none>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRow(t, k, &tc.svc, tc.want) })
	}
}

func TestNodeRow(t *testing.T) {
	withClock(t)
	k := kindFor(t, "", "v1", "nodes")
	node := func(ready corev1.ConditionStatus, unschedulable bool, labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: labels, CreationTimestamp: ago(3 * 24 * time.Hour)},
			Spec: corev1.NodeSpec{Unschedulable: unschedulable},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.20.0.2"}},
				NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.32.4", OSImage: "Debian GNU/Linux 12", KernelVersion: "6.1", ContainerRuntimeVersion: "berth://0.1"}}}
	}
	tests := []struct {
		name string
		node *corev1.Node
		want []interface{}
	}{
		{"ready control plane", node(corev1.ConditionTrue, false, map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}),
			[]interface{}{"n1", "Ready", "control-plane,master", "3d", "v1.32.4", "172.20.0.2", "<none>", "Debian GNU/Linux 12", "6.1", "berth://0.1"}},
		{"not ready, cordoned, no roles", node(corev1.ConditionFalse, true, nil),
			[]interface{}{"n1", "NotReady,SchedulingDisabled", "<none>", "3d", "v1.32.4", "172.20.0.2", "<none>", "Debian GNU/Linux 12", "6.1", "berth://0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRow(t, k, tc.node, tc.want) })
	}
}

func TestEndpointsRow(t *testing.T) {
	withClock(t)
	k := kindFor(t, "", "v1", "endpoints")
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"one", []corev1.EndpointSubset{{Addresses: addrs("10.244.0.5"), Ports: []corev1.EndpointPort{{Port: 8000}}}}, "10.244.0.5:8000"},
		{"more than three", []corev1.EndpointSubset{{Addresses: addrs("10.244.0.5", "10.244.0.6", "10.244.0.7", "10.244.0.8", "10.244.0.9"),
			Ports: []corev1.EndpointPort{{Port: 8000}}}}, "10.244.0.5:8000,10.244.0.6:8000,10.244.0.7:8000 + 2 more..."},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: addrs("10.244.0.5")}}, "10.244.0.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e", CreationTimestamp: ago(time.Minute)}, Subsets: tc.subsets}
			checkRow(t, k, ep, []interface{}{"e", tc.want, "60s"})
		})
	}
}

func TestWorkloadRows(t *testing.T) {
	withClock(t)
	three := int32(3)
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}, {Name: "log", Image: "busybox"}}}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	created := ago(10 * time.Minute)
	t.Run("deployment", func(t *testing.T) {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec:   appsv1.DeploymentSpec{Replicas: &three, Selector: sel, Template: tmpl},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}}
		checkRow(t, kindFor(t, "apps", "v1", "deployments"), d,
			[]interface{}{"web", "2/3", int64(3), int64(2), "10m", "web,log", "nginx:1.25,busybox", "app=web"})
	})
	t.Run("replicaset", func(t *testing.T) {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", CreationTimestamp: created},
			Spec:   appsv1.ReplicaSetSpec{Replicas: &three, Selector: sel, Template: tmpl},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}}
		checkRow(t, kindFor(t, "apps", "v1", "replicasets"), rs,
			[]interface{}{"web-abc", int64(3), int64(3), int64(1), "10m", "web,log", "nginx:1.25,busybox", "app=web"})
	})
	t.Run("statefulset", func(t *testing.T) {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", CreationTimestamp: created},
			Spec: appsv1.StatefulSetSpec{Replicas: &three, Template: tmpl}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}}
		checkRow(t, kindFor(t, "apps", "v1", "statefulsets"), s, []interface{}{"db", "3/3", "10m", "web,log", "nginx:1.25,busybox"})
	})
	t.Run("daemonset", func(t *testing.T) {
		d := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", CreationTimestamp: created},
			Spec:   appsv1.DaemonSetSpec{Selector: sel, Template: tmpl},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, NumberReady: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}}
		checkRow(t, kindFor(t, "apps", "v1", "daemonsets"), d,
			[]interface{}{"agent", int64(1), int64(1), int64(1), int64(1), int64(1), "<none>", "10m", "web,log", "nginx:1.25,busybox", "app=web"})
	})
}

func TestJobRow(t *testing.T) {
	withClock(t)
	k := kindFor(t, "batch", "v1", "jobs")
	one := int32(1)
	start := ago(3 * time.Minute)
	end := ago(time.Minute)
	cond := func(t batchv1.JobConditionType) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
	}
	tests := []struct {
		name   string
		status batchv1.JobStatus
		want   []interface{}
	}{
		{"running", batchv1.JobStatus{StartTime: &start}, []interface{}{"pi", "Running", "0/1", "3m", "5m", "pi", "perl", "<none>"}},
		{"complete", batchv1.JobStatus{StartTime: &start, CompletionTime: &end, Succeeded: 1, Conditions: cond(batchv1.JobComplete)},
			[]interface{}{"pi", "Complete", "1/1", "2m", "5m", "pi", "perl", "<none>"}},
		{"failed", batchv1.JobStatus{StartTime: &start, Failed: 7, Conditions: cond(batchv1.JobFailed)},
			[]interface{}{"pi", "Failed", "0/1", "3m", "5m", "pi", "perl", "<none>"}},
		{"suspended", batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended)},
			[]interface{}{"pi", "Suspended", "0/1", "", "5m", "pi", "perl", "<none>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", CreationTimestamp: ago(5 * time.Minute)},
				Spec: batchv1.JobSpec{Completions: &one, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "pi", Image: "perl"}}}}}, Status: tc.status}
			checkRow(t, k, job, tc.want)
		})
	}
}

func TestHPARow(t *testing.T) {
	withClock(t)
	k := kindFor(t, "autoscaling", "v2", "horizontalpodautoscalers")
	min := int32(1)
	eighty, ten := int32(80), int32(10)
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Hour)},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MinReplicas:    &min, MaxReplicas: 5, Metrics: []autoscalingv2.MetricSpec{cpuUtilizationMetric(eighty)}}}
	checkRow(t, k, h, []interface{}{"web", "Deployment/web", "cpu: <unknown>/80%", "1", int64(5), int64(0), "60m"})
	h.Status.CurrentReplicas = 2
	h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &ten}}}}
	checkRow(t, k, h, []interface{}{"web", "Deployment/web", "cpu: 10%/80%", "1", int64(5), int64(2), "60m"})
}

func TestSmallRows(t *testing.T) {
	withClock(t)
	created := ago(90 * time.Second)
	tests := []struct {
		name     string
		group    string
		resource string
		obj      runtime.Object
		want     []interface{}
	}{
		{"configmap", "", "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", CreationTimestamp: created},
			Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": nil}}, []interface{}{"c", int64(2), "90s"}},
		{"secret", "", "secrets", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: created},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": nil}}, []interface{}{"s", "Opaque", int64(1), "90s"}},
		{"namespace", "", "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", CreationTimestamp: created},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, []interface{}{"ns", "Active", "90s"}},
		{"serviceaccount", "", "serviceaccounts", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: created}},
			[]interface{}{"default", int64(0), "90s"}},
		{"quota", "", "resourcequotas", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", CreationTimestamp: created},
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "limits.cpu": resource.MustParse("4"), "requests.cpu": resource.MustParse("2")},
				Used: corev1.ResourceList{"pods": resource.MustParse("1"), "requests.cpu": resource.MustParse("500m")}}},
			[]interface{}{"q", "pods: 1/10, requests.cpu: 500m/2", "limits.cpu: 0/4", "90s"}},
		{"limitrange", "", "limitranges", &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l", CreationTimestamp: created}},
			[]interface{}{"l", "2026-11-27T11:58:30Z"}},
		{"event", "", "events", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
			Reason:         "Pulled", Message: "Image pulled ", Type: "Normal", Source: corev1.EventSource{Component: "kubelet", Host: "n1"},
			FirstTimestamp: ago(time.Hour), LastTimestamp: ago(time.Minute), Count: 3},
			[]interface{}{"60s", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, n1", "Image pulled", "60m", int64(3), "web.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRow(t, kindFor(t, tc.group, "v1", tc.resource), tc.obj, tc.want) })
	}
}

func TestMoreRows(t *testing.T) {
	withClock(t)
	created := ago(2 * time.Hour)
	fs := corev1.PersistentVolumeFilesystem
	holder := "node1"
	two := intstr.FromInt32(2)
	tests := []struct {
		name     string
		group    string
		resource string
		obj      runtime.Object
		want     []interface{}
	}{
		{"pv", "", "persistentvolumes", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1", CreationTimestamp: created},
			Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce}, PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "data"}, StorageClassName: "local", VolumeMode: &fs},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
			[]interface{}{"pv1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "local", "<unset>", "", "120m", "Filesystem"}},
		{"pvc pending", "", "persistentvolumeclaims", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", CreationTimestamp: created},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("local")}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			[]interface{}{"data", "Pending", "", "", "", "local", "<unset>", "120m", "<unset>"}},
		{"lease", "coordination.k8s.io", "leases", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node1", CreationTimestamp: created},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}, []interface{}{"node1", "node1", "120m"}},
		{"pdb", "policy", "poddisruptionbudgets", &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: created},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &two}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
			[]interface{}{"p", "2", "N/A", int64(1), "120m"}},
		{"network policy", "networking.k8s.io", "networkpolicies", &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", CreationTimestamp: created}},
			[]interface{}{"deny", "<none>", "120m"}},
		{"rolebinding", "rbac.authorization.k8s.io", "rolebindings", &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rb", CreationTimestamp: created},
			RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "ServiceAccount", Namespace: "ns", Name: "bot"}}},
			[]interface{}{"rb", "ClusterRole/view", "120m", "alice", "", "ns:bot"}},
		{"storage class default", "storage.k8s.io", "storageclasses", &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", CreationTimestamp: created,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "berth.dev/local"},
			[]interface{}{"local (default)", "berth.dev/local", "Delete", "Immediate", false, "120m"}},
		{"controller revision", "apps", "controllerrevisions", &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "ds-1", CreationTimestamp: created,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", Controller: ptr(true)}}}, Revision: 1},
			[]interface{}{"ds-1", "daemonset.apps/ds", int64(1), "120m"}},
		{"priority class", "scheduling.k8s.io", "priorityclasses", &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", CreationTimestamp: created}, Value: 1000},
			[]interface{}{"high", int64(1000), false, "120m", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRow(t, kindFor(t, tc.group, "v1", tc.resource), tc.obj, tc.want) })
	}
}
