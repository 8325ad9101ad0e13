package kinds

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodDefaults(t *testing.T) {
	k := kindFor(t, "", "v1", "pods")
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "a", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}},
		{Name: "b", Image: "registry:5000/busybox:1.36"},
		{Name: "c", Image: "busybox@sha256:abc"},
	}, Volumes: []corev1.Volume{{Name: "v"}}}}
	k.Default(pod)
	k.PrepareForCreate(pod)
	s := pod.Spec
	checks := []struct {
		what      string
		got, want interface{}
	}{
		{"restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"schedulerName", s.SchedulerName, "default-scheduler"},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"securityContext set", s.SecurityContext != nil, true},
		{"pull policy, no tag", s.Containers[0].ImagePullPolicy, corev1.PullAlways},
		{"pull policy, tag and registry port", s.Containers[1].ImagePullPolicy, corev1.PullIfNotPresent},
		{"pull policy, digest", s.Containers[2].ImagePullPolicy, corev1.PullIfNotPresent},
		{"terminationMessagePath", s.Containers[0].TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", s.Containers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"port protocol", s.Containers[0].Ports[0].Protocol, corev1.ProtocolTCP},
		{"probe period", s.Containers[0].ReadinessProbe.PeriodSeconds, int32(10)},
		{"probe path", s.Containers[0].ReadinessProbe.HTTPGet.Path, "/"},
		{"request from limit", s.Containers[0].Resources.Requests.Cpu().String(), "1"},
		{"empty volume is emptyDir", s.Volumes[0].EmptyDir != nil, true},
		{"phase", pod.Status.Phase, corev1.PodPending},
		{"qos", pod.Status.QOSClass, corev1.PodQOSBurstable},
	}
	for _, c := range checks {
		if !equality.Semantic.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestServiceDefaults(t *testing.T) {
	k := kindFor(t, "", "v1", "services")
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 8200}}}}
	k.Default(svc)
	s := svc.Spec
	if s.SessionAffinity != corev1.ServiceAffinityNone || s.Ports[0].Protocol != corev1.ProtocolTCP ||
		s.Ports[0].TargetPort != intstr.FromInt32(8200) || s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster ||
		*s.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster || *s.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack ||
		len(s.IPFamilies) != 1 || s.IPFamilies[0] != corev1.IPv4Protocol {
		t.Errorf("defaulted service spec = %+v", s)
	}
	plain := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	k.Default(plain)
	if plain.Spec.Type != corev1.ServiceTypeClusterIP || plain.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("type %q externalTrafficPolicy %q, want ClusterIP and none", plain.Spec.Type, plain.Spec.ExternalTrafficPolicy)
	}
}

func TestWorkloadDefaults(t *testing.T) {
	d := &appsv1.Deployment{}
	kindFor(t, "apps", "v1", "deployments").Default(d)
	ru := d.Spec.Strategy.RollingUpdate
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		ru.MaxSurge.String() != "25%" || ru.MaxUnavailable.String() != "25%" ||
		*d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 ||
		d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("defaulted deployment spec = %+v", d.Spec)
	}
	ds := &appsv1.DaemonSet{}
	kindFor(t, "apps", "v1", "daemonsets").Default(ds)
	if dru := ds.Spec.UpdateStrategy.RollingUpdate; dru.MaxUnavailable.String() != "1" || dru.MaxSurge.String() != "0" || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("defaulted daemonset strategy = %+v", ds.Spec.UpdateStrategy)
	}
	rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}}}}
	kindFor(t, "", "v1", "replicationcontrollers").Default(rc)
	if rc.Spec.Selector["app"] != "x" || rc.Labels["app"] != "x" || *rc.Spec.Replicas != 1 {
		t.Errorf("rc selector %v labels %v replicas %d", rc.Spec.Selector, rc.Labels, *rc.Spec.Replicas)
	}
}

func TestJobDefaultsAndSelector(t *testing.T) {
	k := kindFor(t, "batch", "v1", "jobs")
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "1234"}}
	k.Default(job)
	k.PrepareForCreate(job)
	s := job.Spec
	if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion || *s.Suspend {
		t.Errorf("defaulted job spec = %+v", s)
	}
	if s.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != "1234" {
		t.Errorf("selector = %v, want controller-uid 1234", s.Selector)
	}
	for _, l := range []string{"batch.kubernetes.io/controller-uid", "controller-uid", "batch.kubernetes.io/job-name", "job-name"} {
		if s.Template.Labels[l] == "" {
			t.Errorf("template label %s missing: %v", l, s.Template.Labels)
		}
	}
	cj := &batchv1.CronJob{}
	kindFor(t, "batch", "v1", "cronjobs").Default(cj)
	if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || *cj.Spec.Suspend || *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaulted cronjob spec = %+v", cj.Spec)
	}
}

func TestHPAConversion(t *testing.T) {
	v1 := kindFor(t, "autoscaling", "v1", "horizontalpodautoscalers")
	fifty := int32(50)
	in := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MaxReplicas: 4, TargetCPUUtilizationPercentage: &fifty}}
	stored, err := v1.ToStorage(in)
	if err != nil {
		t.Fatal(err)
	}
	v2 := stored.(*autoscalingv2.HorizontalPodAutoscaler)
	if len(v2.Spec.Metrics) != 1 || *v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 || v2.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		t.Fatalf("v2 metrics = %+v", v2.Spec.Metrics)
	}
	back, err := v1.FromStorage(v2)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(*autoscalingv1.HorizontalPodAutoscaler); *got.Spec.TargetCPUUtilizationPercentage != 50 || got.Spec.MaxReplicas != 4 {
		t.Errorf("round trip = %+v", got.Spec)
	}
	// A v2 HPA without metrics gets upstream's 80% CPU target.
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	kindFor(t, "autoscaling", "v2", "horizontalpodautoscalers").Default(h)
	if *h.Spec.MinReplicas != 1 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
		t.Errorf("defaulted v2 spec = %+v", h.Spec)
	}
}

func TestEventConversion(t *testing.T) {
	k := kindFor(t, "events.k8s.io", "v1", "events")
	in := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: "web"}, Note: "pulled", Reason: "Pulled",
		ReportingController: "kubelet", DeprecatedCount: 2}
	stored, err := k.ToStorage(in)
	if err != nil {
		t.Fatal(err)
	}
	core := stored.(*corev1.Event)
	if core.InvolvedObject.Name != "web" || core.Message != "pulled" || core.Count != 2 || core.ReportingController != "kubelet" {
		t.Errorf("core event = %+v", core)
	}
	if f := k.Fields(in); f["regarding.name"] != "web" || f["involvedObject.name"] != "web" || f["reportingController"] != "kubelet" {
		t.Errorf("fields = %v", f)
	}
	back, _ := k.FromStorage(core)
	if got := back.(*eventsv1.Event); got.Note != "pulled" || got.Regarding.Kind != "Pod" || got.DeprecatedCount != 2 {
		t.Errorf("round trip = %+v", got)
	}
}

func TestLimitRangeDefaults(t *testing.T) {
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
		Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}}
	kindFor(t, "", "v1", "limitranges").Default(lr)
	item := lr.Spec.Limits[0]
	if item.Default.Cpu().String() != "2" || item.DefaultRequest.Cpu().String() != "2" {
		t.Errorf("default %v defaultRequest %v, want both 2 from max", item.Default, item.DefaultRequest)
	}
}

func TestPodQOS(t *testing.T) {
	res := func(req, lim string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{}
		if req != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req), corev1.ResourceMemory: resource.MustParse("64Mi")}
		}
		if lim != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim), corev1.ResourceMemory: resource.MustParse("64Mi")}
		}
		return r
	}
	tests := []struct {
		name       string
		containers []corev1.ResourceRequirements
		want       corev1.PodQOSClass
	}{
		{"nothing set", []corev1.ResourceRequirements{{}}, corev1.PodQOSBestEffort},
		{"limits only (requests default to them)", []corev1.ResourceRequirements{res("", "500m")}, corev1.PodQOSGuaranteed},
		{"requests equal limits", []corev1.ResourceRequirements{res("1", "1"), res("2", "2")}, corev1.PodQOSGuaranteed},
		{"requests below limits", []corev1.ResourceRequirements{res("100m", "1")}, corev1.PodQOSBurstable},
		{"one container without limits", []corev1.ResourceRequirements{res("1", "1"), {}}, corev1.PodQOSBurstable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			for i, r := range tc.containers {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprint("c", i), Image: "x", Resources: r})
			}
			k := kindFor(t, "", "v1", "pods")
			k.Default(pod)
			k.PrepareForCreate(pod)
			if pod.Status.QOSClass != tc.want {
				t.Errorf("qosClass = %s, want %s", pod.Status.QOSClass, tc.want)
			}
		})
	}
}

func TestSecretStringData(t *testing.T) {
	k := kindFor(t, "", "v1", "secrets")
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("kept")}, StringData: map[string]string{"a": "new"}}
	k.Default(s)
	if string(s.Data["a"]) != "new" || string(s.Data["b"]) != "kept" || s.StringData != nil || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("secret after defaulting: data %q stringData %v type %q", s.Data, s.StringData, s.Type)
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		group, resource string
		obj             runtime.Object
		want            map[string]string
	}{
		{"", "pods", &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyNever},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5"}},
			map[string]string{"spec.nodeName": "n1", "spec.restartPolicy": "Never", "status.phase": "Running", "status.podIP": "10.244.0.5", "spec.hostNetwork": "false"}},
		{"", "nodes", &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}, map[string]string{"spec.unschedulable": "true"}},
		{"", "secrets", &corev1.Secret{Type: corev1.SecretTypeTLS}, map[string]string{"type": "kubernetes.io/tls"}},
		{"", "services", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.9"}},
			map[string]string{"spec.type": "NodePort", "spec.clusterIP": "10.96.0.9"}},
		{"", "events", &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", UID: "u1"}, Reason: "Pulled",
			ReportingController: "kubelet", Type: "Normal"},
			map[string]string{"involvedObject.kind": "Pod", "involvedObject.name": "web", "involvedObject.uid": "u1", "reason": "Pulled", "source": "kubelet", "type": "Normal"}},
		{"batch", "jobs", &batchv1.Job{Status: batchv1.JobStatus{Succeeded: 3}}, map[string]string{"status.successful": "3"}},
		{"apps", "replicasets", &appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: 2}}, map[string]string{"status.replicas": "2"}},
		{"", "namespaces", &corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, map[string]string{"status.phase": "Terminating"}},
	}
	for _, tc := range tests {
		t.Run(tc.resource, func(t *testing.T) {
			got := kindFor(t, tc.group, "v1", tc.resource).Fields(tc.obj)
			for f, v := range tc.want {
				if got[f] != v {
					t.Errorf("Fields()[%q] = %q, want %q", f, got[f], v)
				}
			}
		})
	}
}

func TestHPABehaviorDefaults(t *testing.T) {
	k := kindFor(t, "autoscaling", "v2", "horizontalpodautoscalers")
	window := int32(60)
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window}}}}
	k.Default(h)
	up, down := h.Spec.Behavior.ScaleUp, h.Spec.Behavior.ScaleDown
	if *up.StabilizationWindowSeconds != 0 || *up.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(up.Policies) != 2 || up.Policies[0].Value != 4 {
		t.Errorf("scaleUp = %+v", up)
	}
	if *down.StabilizationWindowSeconds != 60 || len(down.Policies) != 1 || down.Policies[0].Value != 100 {
		t.Errorf("scaleDown = %+v", down)
	}
	plain := &autoscalingv2.HorizontalPodAutoscaler{}
	k.Default(plain)
	if plain.Spec.Behavior != nil {
		t.Errorf("behavior defaulted without being asked: %+v", plain.Spec.Behavior)
	}
}
