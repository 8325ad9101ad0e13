package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// busyDeployment burns CPU in a loop until /tmp/idle exists. The limit
// keeps three replicas at 0.6 cores on this 2-vCPU machine; at twice its
// request a pod is at 200% against a 50% target, so one step takes it to
// maxReplicas.
const busyDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: busy}
spec:
  replicas: 1
  selector: {matchLabels: {app: busy}}
  template:
    metadata: {labels: {app: busy}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: loop
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "while [ ! -e /tmp/idle ]; do :; done; exec sleep 3600"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
          limits: {cpu: 200m, memory: 64Mi}
`

// metricsList is the part of NodeMetricsList and PodMetricsList read here.
type metricsList struct {
	Kind  string `json:"kind"`
	Items []struct {
		Metadata   metav1.ObjectMeta   `json:"metadata"`
		Usage      corev1.ResourceList `json:"usage"`
		Containers []struct {
			Name  string              `json:"name"`
			Usage corev1.ResourceList `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

func getMetrics(c *Cluster, path string) (*metricsList, error) {
	out, err := c.KubectlErr("", "get", "--raw", path)
	if err != nil {
		return nil, fmt.Errorf("get %s: %v: %s", path, err, out)
	}
	var l metricsList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return nil, fmt.Errorf("decode %s: %v", path, err)
	}
	return &l, nil
}

func TestAutoscale(t *testing.T) {
	Require(t)
	c := StartCluster(t)
	loadBaseImages(t, c)

	// The metrics API is in discovery, so kubectl top finds it.
	if out := c.Kubectl("api-resources", "--api-group=metrics.k8s.io", "-o", "name"); !strings.Contains(out, "pods.metrics.k8s.io") ||
		!strings.Contains(out, "nodes.metrics.k8s.io") {
		t.Fatalf("api-resources for metrics.k8s.io = %q", out)
	}

	// kubectl top nodes: the node's usage, once two scrapes have passed.
	Eventually(t, 90*time.Second, func() error {
		l, err := getMetrics(c, "/apis/metrics.k8s.io/v1beta1/nodes")
		if err != nil {
			return err
		}
		if l.Kind != "NodeMetricsList" || len(l.Items) != 1 {
			return fmt.Errorf("node metrics = %+v", l)
		}
		mem := l.Items[0].Usage[corev1.ResourceMemory]
		if mem.Value() <= 0 {
			return fmt.Errorf("node memory usage %s", mem.String())
		}
		return nil
	})
	nodes := c.Kubectl("top", "nodes")
	t.Logf("kubectl top nodes:\n%s", nodes)
	if !strings.Contains(nodes, "CPU(cores)") || len(strings.Split(strings.TrimSpace(nodes), "\n")) != 2 {
		t.Errorf("kubectl top nodes = %q, want a header and one row", nodes)
	}

	c.KubectlIn(busyDeployment, "apply", "-f", "-")
	var busyPod string
	Eventually(t, 120*time.Second, func() error {
		l, err := getMetrics(c, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dbusy")
		if err != nil {
			return err
		}
		if len(l.Items) != 1 || len(l.Items[0].Containers) != 1 {
			return fmt.Errorf("busy pod metrics = %+v", l.Items)
		}
		cpu := l.Items[0].Containers[0].Usage[corev1.ResourceCPU]
		if cpu.Cmp(resource.MustParse("100m")) < 0 {
			return fmt.Errorf("busy loop uses %s, want at least 100m", cpu.String())
		}
		busyPod = l.Items[0].Metadata.Name
		return nil
	})
	top := c.Kubectl("top", "pods")
	t.Logf("kubectl top pods:\n%s", top)
	if !strings.Contains(top, busyPod) || !strings.Contains(top, "MEMORY(bytes)") {
		t.Errorf("kubectl top pods = %q, want a row for %s", top, busyPod)
	}
	if top := c.Kubectl("top", "pod", busyPod, "--containers"); !strings.Contains(top, "loop") {
		t.Errorf("kubectl top pod --containers = %q, want container loop", top)
	}
	if out := c.Kubectl("get", "pods.metrics.k8s.io", busyPod); !strings.Contains(out, "WINDOW") || !strings.Contains(out, busyPod) {
		t.Errorf("kubectl get pods.metrics.k8s.io = %q, want a usage row", out)
	}
	if out, err := c.KubectlErr("", "top", "pod", "nope"); err == nil || !strings.Contains(out, `podmetrics.metrics.k8s.io "default/nope" not found`) {
		t.Errorf("kubectl top pod nope = %v, %q", err, out)
	}

	c.Kubectl("autoscale", "deployment", "busy", "--cpu-percent=50", "--min=1", "--max=3")
	var hpa autoscalingv2.HorizontalPodAutoscaler
	Eventually(t, 120*time.Second, func() error {
		if err := json.Unmarshal([]byte(c.Kubectl("get", "hpa.v2.autoscaling", "busy", "-o", "json")), &hpa); err != nil {
			return err
		}
		if hpa.Status.DesiredReplicas != 3 {
			return fmt.Errorf("hpa status %+v", hpa.Status)
		}
		return nil
	})
	if got := c.Kubectl("get", "deployment", "busy", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("deployment replicas = %s, want 3", got)
	}
	if hpa.Status.LastScaleTime == nil || len(hpa.Status.CurrentMetrics) != 1 || hpa.Status.CurrentMetrics[0].Resource == nil ||
		hpa.Status.CurrentMetrics[0].Resource.Current.AverageUtilization == nil || *hpa.Status.CurrentMetrics[0].Resource.Current.AverageUtilization < 100 {
		t.Errorf("hpa status = %+v, want a scale time and cpu utilization of at least 100%%", hpa.Status)
	}
	conds := map[autoscalingv2.HorizontalPodAutoscalerConditionType]corev1.ConditionStatus{}
	for _, cd := range hpa.Status.Conditions {
		conds[cd.Type] = cd.Status
	}
	if conds[autoscalingv2.AbleToScale] != corev1.ConditionTrue || conds[autoscalingv2.ScalingActive] != corev1.ConditionTrue {
		t.Errorf("conditions = %+v", hpa.Status.Conditions)
	}
	events := c.Kubectl("get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=busy",
		"-o", `jsonpath={range .items[*]}{.reason}: {.message}{"\n"}{end}`)
	if !strings.Contains(events, "SuccessfulRescale: New size: 3; reason: cpu resource utilization (percentage of request) above target") {
		t.Errorf("hpa events = %q", events)
	}
	// kubectl get hpa shows current/target, not <unknown>.
	getHPA := c.Kubectl("get", "hpa", "busy")
	t.Logf("kubectl get hpa:\n%s", getHPA)
	if out := getHPA; !strings.Contains(out, "%/50%") || strings.Contains(out, "<unknown>") {
		t.Errorf("kubectl get hpa = %q, want the cpu utilization against 50%%", out)
	}
	Eventually(t, 90*time.Second, func() error {
		out := c.Kubectl("get", "deployment", "busy", "-o", "jsonpath={.status.readyReplicas}")
		if out != "3" {
			return fmt.Errorf("ready replicas %q", out)
		}
		return nil
	})

	// Idle pods scale back down; without a stabilization window at once.
	c.Kubectl("patch", "hpa", "busy", "--type=merge", "-p", `{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}}}}`)
	for _, p := range strings.Fields(c.Kubectl("get", "pods", "-l", "app=busy", "-o", "name")) {
		c.Kubectl("exec", p, "--", "touch", "/tmp/idle")
	}
	Eventually(t, 120*time.Second, func() error {
		if got := c.Kubectl("get", "deployment", "busy", "-o", "jsonpath={.spec.replicas}"); got != "1" {
			return fmt.Errorf("deployment replicas = %s, want 1", got)
		}
		return nil
	})
	events = c.Kubectl("get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=busy",
		"-o", `jsonpath={range .items[*]}{.reason}: {.message}{"\n"}{end}`)
	if !strings.Contains(events, "SuccessfulRescale: New size: 1; reason: All metrics below target") {
		t.Errorf("hpa events = %q", events)
	}
	t.Logf("kubectl describe hpa:\n%s", c.Kubectl("describe", "hpa", "busy"))

	// Stop what is left of the load on this shared machine before the cluster goes.
	c.Kubectl("delete", "hpa", "busy")
	c.Kubectl("delete", "deployment", "busy")
	Eventually(t, 90*time.Second, func() error {
		if out := c.Kubectl("get", "pods", "-l", "app=busy", "-o", "name"); out != "" {
			return fmt.Errorf("busy pods left: %s", out)
		}
		return nil
	})
}
