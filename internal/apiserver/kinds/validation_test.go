package kinds

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// message renders errs the way the API server's 422 does, so the test
// reads like what kubectl prints.
func message(k *Kind, name string, obj runtime.Object, old runtime.Object) string {
	if k.Default != nil {
		k.Default(obj)
	}
	var errs = k.Validate(obj)
	if old != nil {
		errs = k.ValidateUpdate(obj, old)
	}
	if len(errs) == 0 {
		return ""
	}
	return apierrors.NewInvalid(k.GVK.GroupKind(), name, errs).Error()
}

func simplePod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
}

func deployment(selector, template map[string]string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}}}
}

func TestValidate(t *testing.T) {
	app := map[string]string{"app": "web"}
	tests := []struct {
		name     string
		resource string
		group    string
		obj      runtime.Object
		want     string // substring of the Invalid error; "" means valid
	}{
		{"good pod", "pods", "", simplePod("web"), ""},
		{"bad pod name", "pods", "", simplePod("Hello_Pod"),
			`Pod "Hello_Pod" is invalid: metadata.name: Invalid value: "Hello_Pod": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"pod without containers", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}},
			`spec.containers: Required value`},
		{"container without image", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}, `spec.containers[0].image: Required value`},
		{"bad container port", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 70000}}}}}},
			`spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`},
		{"bad label", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"a": "-x-"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}, `metadata.labels: Invalid value: "-x-"`},
		{"selector mismatch", "deployments", "apps", deployment(app, map[string]string{"app": "other"}, 1),
			"spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"},
		{"negative replicas", "deployments", "apps", deployment(app, app, -1), `spec.replicas: Invalid value: -1: must be greater than or equal to 0`},
		{"service name must be DNS-1035", "services", "", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "1svc", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, `metadata.name: Invalid value: "1svc": a DNS-1035 label must consist of`},
		{"service without ports", "services", "", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}},
			`spec.ports: Required value`},
		{"two unnamed ports", "services", "", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}, {Port: 81}}}}, `spec.ports[0].name: Required value`},
		{"node port on ClusterIP", "services", "", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}}}},
			`spec.ports[0].nodePort: Forbidden: may not be used when ` + "`type`" + ` is 'ClusterIP'`},
		{"bad cron schedule", "cronjobs", "batch", &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
			Spec: batchv1.CronJobSpec{Schedule: "61 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}}},
			`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`},
		{"good cron macro", "cronjobs", "batch", &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
			Spec: batchv1.CronJobSpec{Schedule: "@hourly", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}}}, ""},
		{"bad time zone", "cronjobs", "batch", &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
			Spec: batchv1.CronJobSpec{Schedule: "@daily", TimeZone: ptr("Mars/Olympus"), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}}},
			`spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus`},
		{"good time zone", "cronjobs", "batch", &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
			Spec: batchv1.CronJobSpec{Schedule: "@daily", TimeZone: ptr("Europe/Berlin"), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}}}, ""},
		{"job with restartPolicy Always", "jobs", "batch", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", UID: "u1"},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}},
			`spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`},
		{"probe without handler", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", LivenessProbe: &corev1.Probe{PeriodSeconds: 5}}}}},
			`spec.containers[0].livenessProbe: Required value: must specify a handler type`},
		{"toleration seconds without NoExecute", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}},
				Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr(int64(5))}}}},
			"spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"},
		{"unknown resource", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{"cpus": resource.MustParse("1")}}}}}},
			`spec.containers[0].resources.limits[cpus]: Invalid value: "cpus": must be a standard resource for containers`},
		{"request above limit", "pods", "", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"cpu": resource.MustParse("2")}, Limits: corev1.ResourceList{"cpu": resource.MustParse("1")}}}}}},
			`spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1`},
		{"affinity timeout", "services", "", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}, SessionAffinity: corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(0))}}}},
			`spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400`},
		{"endpoints address", "endpoints", "", &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}, NotReadyAddresses: []corev1.EndpointAddress{{IP: "nope"}},
				Ports: []corev1.EndpointPort{{Port: 80}}}}},
			`subsets[0].notReadyAddresses[0].ip: Invalid value: "nope": must be a valid IP address`},
		{"node taint effect", "nodes", "", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k", Effect: "Sometimes"}}}},
			`spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		{"event in another namespace than its object", "events", "", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "team"}},
			`involvedObject.namespace: Invalid value: "team": does not match event.namespace`},
		{"node event in default", "events", "", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, ""},
		{"configmap key", "configmaps", "", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
			Data: map[string]string{"a b": "1"}}, `data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := kindFor(t, tc.group, "v1", tc.resource)
			if k.PrepareForCreate != nil {
				k.PrepareForCreate(tc.obj)
			}
			got := message(k, metaOf(tc.obj).GetName(), tc.obj, nil)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Validate() = %q\nwant containing %q", got, tc.want)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	app := map[string]string{"app": "web"}
	image := func(p *corev1.Pod) { p.Spec.Containers[0].Image = "busybox:1.36" }
	port := func(p *corev1.Pod) { p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}} }
	tests := []struct {
		name     string
		group    string
		resource string
		old, obj func() runtime.Object
		want     string
	}{
		{"pod image may change", "", "pods", func() runtime.Object { return simplePod("p") },
			func() runtime.Object {
				p := simplePod("p")
				image(p)
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
				return p
			}, ""},
		{"pod ports may not change", "", "pods", func() runtime.Object { return simplePod("p") },
			func() runtime.Object { p := simplePod("p"); port(p); return p },
			"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"},
		{"deployment selector immutable", "apps", "deployments",
			func() runtime.Object { return deployment(app, app, 1) },
			func() runtime.Object {
				return deployment(map[string]string{"app": "web", "v": "2"}, map[string]string{"app": "web", "v": "2"}, 1)
			},
			`spec.selector: Invalid value: `},
		{"service cluster IP immutable", "", "services",
			func() runtime.Object {
				return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
					Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Port: 80}}}}
			},
			func() runtime.Object {
				return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
					Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.21", Ports: []corev1.ServicePort{{Port: 80}}}}
			},
			`spec.clusterIPs[0]: Invalid value: ["10.96.0.21"]: may not change once set`},
	}
	pvc := func(size, volume string, phase corev1.PersistentVolumeClaimPhase) runtime.Object {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: volume,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	tests = append(tests, []struct {
		name     string
		group    string
		resource string
		old, obj func() runtime.Object
		want     string
	}{
		{"pvc bound once", "", "persistentvolumeclaims", func() runtime.Object { return pvc("1Gi", "", corev1.ClaimPending) },
			func() runtime.Object { return pvc("1Gi", "pv1", corev1.ClaimPending) }, ""},
		{"pvc gets its class once", "", "persistentvolumeclaims", func() runtime.Object { return pvc("1Gi", "", corev1.ClaimPending) },
			func() runtime.Object {
				p := pvc("1Gi", "pv1", corev1.ClaimPending).(*corev1.PersistentVolumeClaim)
				p.Spec.StorageClassName = ptr("local-path")
				return p
			}, ""},
		{"pvc grows when bound", "", "persistentvolumeclaims", func() runtime.Object { return pvc("1Gi", "pv1", corev1.ClaimBound) },
			func() runtime.Object { return pvc("2Gi", "pv1", corev1.ClaimBound) }, ""},
		{"pvc cannot grow unbound", "", "persistentvolumeclaims", func() runtime.Object { return pvc("1Gi", "", corev1.ClaimPending) },
			func() runtime.Object { return pvc("2Gi", "", corev1.ClaimPending) }, "spec: Forbidden: spec is immutable after creation"},
		{"pvc cannot shrink", "", "persistentvolumeclaims", func() runtime.Object { return pvc("2Gi", "pv1", corev1.ClaimBound) },
			func() runtime.Object { return pvc("1Gi", "pv1", corev1.ClaimBound) },
			"spec.resources.requests.storage: Forbidden: field can not be less than previous value"},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := kindFor(t, tc.group, "v1", tc.resource)
			old, obj := tc.old(), tc.obj()
			k.Default(old)
			// The API server carries the stored resourceVersion over.
			metaOf(old).SetResourceVersion("7")
			metaOf(obj).SetResourceVersion("7")
			got := message(k, metaOf(old).GetName(), obj, old)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("ValidateUpdate() = %q\nwant containing %q", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestValidateHPAMetrics(t *testing.T) {
	k := kindFor(t, "autoscaling", "v2", "horizontalpodautoscalers")
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType}}}}
	want := "spec.metrics[0].external: Required value: must populate information for the given metric source"
	if got := message(k, "h", h, nil); !strings.Contains(got, want) {
		t.Errorf("Validate() = %q, want containing %q", got, want)
	}
}

func TestValidateNetworkPolicy(t *testing.T) {
	k := kindFor(t, "networking.k8s.io", "v1", "networkpolicies")
	np := func(cidr string, except ...string) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}}}}}}
	}
	for _, tc := range []struct {
		name string
		np   *networkingv1.NetworkPolicy
		want string
	}{
		{"good block", np("10.0.0.0/8", "10.1.0.0/16"), ""},
		{"bad cidr", np("10.0.0.0/33"), `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value`},
		{"except outside", np("10.0.0.0/16", "192.168.0.0/24"), "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"192.168.0.0/24\": must be a strict subset of `cidr`"},
	} {
		got := message(k, "p", tc.np, nil)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Validate() = %q, want containing %q", tc.name, got, tc.want)
		}
	}
}

func TestValidateIngress(t *testing.T) {
	k := kindFor(t, "networking.k8s.io", "v1", "ingresses")
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "default"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "hello.example", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/",
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
	want := "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
	if got := message(k, "i", ing, nil); !strings.Contains(got, want) {
		t.Errorf("Validate() = %q, want containing %q", got, want)
	}
	prefix := networkingv1.PathTypePrefix
	ing.Spec.Rules[0].HTTP.Paths[0].PathType = &prefix
	if got := message(k, "i", ing, nil); got != "" {
		t.Errorf("Validate() of a good ingress = %q", got)
	}
}
