package e2e

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// columnGap separates kubectl's printed columns (its tabwriter pads with at
// least three spaces; cells such as "3 (5m ago)" hold single spaces).
var columnGap = regexp.MustCompile(`\s{2,}`)

// header returns the column names `kubectl get ARGS` prints. Only the
// header is split: values are read with jsonpath.
func header(t *testing.T, c *Cluster, args ...string) []string {
	t.Helper()
	out := c.Kubectl(append([]string{"get"}, args...)...)
	first, _, _ := strings.Cut(out, "\n")
	return columnGap.Split(strings.TrimSpace(first), -1)
}

// mustFail runs kubectl expecting a refusal that contains want.
func mustFail(t *testing.T, c *Cluster, stdin, want string, args ...string) {
	t.Helper()
	out, err := c.KubectlErr(stdin, args...)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("kubectl %s: err=%v, output %q, want it to contain %q", strings.Join(args, " "), err, out, want)
	}
}

// TestKindsTablesAndDefaults checks what `kubectl get -o wide` and
// `-o yaml` show for the common kinds: upstream's columns and defaults.
func TestKindsTablesAndDefaults(t *testing.T) {
	c := StartCluster(t)
	c.Kubectl("create", "deployment", "web", "--image=busybox:1.36", "--replicas=2")
	c.Kubectl("create", "service", "nodeport", "web", "--tcp=80:8080")
	c.Kubectl("run", "solo", "--image=busybox", "--restart=Never")
	c.KubectlIn(`apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: busybox
`, "apply", "-f", "-")

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pods", "-o", "wide"}, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"}},
		{[]string{"svc", "-o", "wide"}, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"}},
		{[]string{"deploy", "-o", "wide"}, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}},
		{[]string{"nodes", "-o", "wide"}, []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"}},
		{[]string{"jobs"}, []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"}},
		{[]string{"ns"}, []string{"NAME", "STATUS", "AGE"}},
		{[]string{"sa"}, []string{"NAME", "SECRETS", "AGE"}},
	} {
		// Listing nodes before one has joined prints "No resources found".
		if tc.args[0] == "nodes" && !strings.Contains(c.Kubectl("get", "nodes", "-o", "name"), "node/") {
			continue
		}
		if got := header(t, c, tc.args...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("kubectl get %s columns = %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	svcPorts := c.Kubectl("get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
	if row := c.Kubectl("get", "svc", "web", "--no-headers"); !strings.Contains(row, "80:"+svcPorts+"/TCP") || !strings.Contains(row, "NodePort") {
		t.Errorf("service row %q: want NodePort and 80:%s/TCP", row, svcPorts)
	}
	ip, err := netip.ParseAddr(c.Kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"))
	if err != nil || !netip.MustParsePrefix("10.96.0.0/12").Contains(ip) {
		t.Errorf("service clusterIP %v (%v) not in 10.96.0.0/12", ip, err)
	}

	defaults := []struct{ obj, path, want string }{
		{"deploy/web", "{.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.strategy.rollingUpdate.maxUnavailable}", "RollingUpdate 25% 25%"},
		{"deploy/web", "{.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds}", "10 600"},
		{"deploy/web", "{.spec.template.spec.containers[0].imagePullPolicy}", "IfNotPresent"},
		{"pod/solo", "{.spec.containers[0].imagePullPolicy} {.spec.schedulerName} {.spec.serviceAccountName}", "Always default-scheduler default"},
		{"pod/solo", "{.spec.enableServiceLinks} {.spec.priority} {.status.qosClass}", "true 0 BestEffort"},
		{"pod/solo", "{.spec.tolerations[*].key}", "node.kubernetes.io/not-ready node.kubernetes.io/unreachable"},
		{"svc/web", "{.spec.externalTrafficPolicy} {.spec.internalTrafficPolicy} {.spec.ipFamilyPolicy} {.spec.ipFamilies[0]}", "Cluster Cluster SingleStack IPv4"},
		{"svc/web", "{.spec.ports[0].targetPort} {.spec.ports[0].protocol}", "8080 TCP"},
		{"job/pi", "{.spec.completions} {.spec.parallelism} {.spec.backoffLimit} {.spec.completionMode} {.spec.suspend}", "1 1 6 NonIndexed false"},
		{"ns/default", "{.spec.finalizers[0]} {.status.phase}", "kubernetes Active"},
	}
	for _, d := range defaults {
		if got := c.Kubectl("get", d.obj, "-o", "jsonpath="+d.path); got != d.want {
			t.Errorf("%s %s = %q, want %q", d.obj, d.path, got, d.want)
		}
	}
	uid := c.Kubectl("get", "job/pi", "-o", "jsonpath={.metadata.uid}")
	if got := c.Kubectl("get", "job/pi", "-o", "jsonpath={.spec.selector.matchLabels.batch\\.kubernetes\\.io/controller-uid}"); got != uid {
		t.Errorf("job selector controller-uid = %q, want the job's uid %q", got, uid)
	}
}

// TestKindsValidation checks upstream's messages for the mistakes users
// make most.
func TestKindsValidation(t *testing.T) {
	c := StartCluster(t)
	mismatch := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: other}
    spec:
      containers:
      - name: web
        image: busybox
`
	mustFail(t, c, mismatch, "`selector` does not match template `labels`", "apply", "-f", "-")
	mustFail(t, c, strings.Replace(mismatch, "app: other", "app: web", 1)+"  replicas: -1\n",
		"spec.replicas: Invalid value: -1: must be greater than or equal to 0", "apply", "-f", "-")
	mustFail(t, c, "", `metadata.name: Invalid value: "Hello_Pod": a lowercase RFC 1123 subdomain`, "run", "Hello_Pod", "--image=busybox")
	mustFail(t, c, "", `spec.schedule: Invalid value: "61 * * * *"`, "create", "cronjob", "c", "--image=busybox", "--schedule=61 * * * *")
	mustFail(t, c, "", `metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character`,
		"create", "service", "clusterip", "1web", "--tcp=80")

	c.Kubectl("run", "p", "--image=busybox")
	mustFail(t, c, "", "pod updates may not change fields other than `spec.containers[*].image`",
		"patch", "pod", "p", "--type=json", `-p=[{"op":"add","path":"/spec/containers/0/ports","value":[{"containerPort":80}]}]`)
	c.Kubectl("set", "image", "pod/p", "p=busybox:1.36")
}

// TestKindsServiceAllocation checks ClusterIP and NodePort conflicts (422
// with upstream's messages) and that a deleted Service frees both.
func TestKindsServiceAllocation(t *testing.T) {
	c := StartCluster(t)
	svc := func(name, clusterIP, nodePort string) string {
		return `apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
spec:
  type: NodePort
  clusterIP: ` + clusterIP + `
  selector: {app: x}
  ports:
  - port: 80
    nodePort: ` + nodePort + "\n"
	}
	c.KubectlIn(svc("a", "10.96.0.20", "30080"), "apply", "-f", "-")
	mustFail(t, c, svc("b", "10.96.0.20", "30081"),
		`The Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.20"]: failed to allocate IP 10.96.0.20: provided IP is already allocated`,
		"apply", "-f", "-")
	mustFail(t, c, svc("b", "10.96.0.21", "30080"),
		`The Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`, "apply", "-f", "-")
	mustFail(t, c, svc("b", "10.0.0.5", "30081"),
		`failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12`, "apply", "-f", "-")
	mustFail(t, c, svc("b", "10.96.0.21", "40000"),
		`spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767`, "apply", "-f", "-")
	// The refused creates reserved nothing: b gets the IP and port they asked for.
	c.KubectlIn(svc("b", "10.96.0.21", "30081"), "apply", "-f", "-")
	// A dry run reserves nothing either.
	c.KubectlIn(svc("dry", "10.96.0.22", "30082"), "apply", "--dry-run=server", "-f", "-")
	c.KubectlIn(svc("c", "10.96.0.22", "30082"), "apply", "-f", "-")

	c.Kubectl("delete", "svc", "a")
	c.KubectlIn(svc("d", "10.96.0.20", "30080"), "apply", "-f", "-")

	c.Kubectl("create", "service", "clusterip", "headless", "--clusterip=None")
	if got := c.Kubectl("get", "svc", "headless", "-o", "jsonpath={.spec.clusterIP}"); got != "None" {
		t.Errorf("headless clusterIP = %q", got)
	}
}

// TestKindsAdmission checks namespace lifecycle, LimitRange and
// ResourceQuota refusals.
func TestKindsAdmission(t *testing.T) {
	c := StartCluster(t)
	mustFail(t, c, "", `namespaces "nope" not found`, "-n", "nope", "create", "configmap", "x")
	mustFail(t, c, "", `namespaces "kube-system" is forbidden: this namespace may not be deleted`, "delete", "namespace", "kube-system")

	// A namespace held by a finalized object stays Terminating: nothing new
	// may be created in it.
	c.Kubectl("create", "namespace", "going")
	c.KubectlIn("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n", "-n", "going", "apply", "-f", "-")
	c.Kubectl("delete", "namespace", "going", "--wait=false")
	mustFail(t, c, "", `configmaps "late" is forbidden: unable to create new content in namespace going because it is being terminated`,
		"-n", "going", "create", "configmap", "late")
	c.Kubectl("-n", "going", "patch", "configmap", "held", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)

	c.Kubectl("create", "namespace", "secure")
	c.Kubectl("label", "namespace", "secure", "pod-security.kubernetes.io/enforce=restricted")
	mustFail(t, c, "", `pods "plain" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "plain" must set securityContext.allowPrivilegeEscalation=false)`,
		"-n", "secure", "run", "plain", "--image=busybox")

	c.Kubectl("create", "namespace", "q")
	c.Kubectl("-n", "q", "create", "quota", "q", "--hard=pods=1,count/configmaps=3")
	c.Kubectl("-n", "q", "run", "one", "--image=busybox")
	mustFail(t, c, "", `pods "two" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`,
		"-n", "q", "run", "two", "--image=busybox")

	c.Kubectl("create", "namespace", "lr")
	c.KubectlIn(`apiVersion: v1
kind: LimitRange
metadata:
  name: cpu
spec:
  limits:
  - type: Container
    max: {cpu: "1"}
    defaultRequest: {cpu: 100m}
`, "-n", "lr", "apply", "-f", "-")
	c.Kubectl("-n", "lr", "run", "small", "--image=busybox")
	if got := c.Kubectl("-n", "lr", "get", "pod", "small", "-o", "jsonpath={.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.limits.cpu}"); got != "100m 1" {
		t.Errorf("LimitRange defaults: requests/limits cpu = %q, want \"100m 1\"", got)
	}
	big := `apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: c
    image: busybox
    resources:
      limits: {cpu: "2"}
`
	mustFail(t, c, big, `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2`, "-n", "lr", "apply", "-f", "-")
}

// TestKindsVersions checks the kinds served at two versions: HPAs at
// autoscaling/v1 and v2, events at core/v1 and events.k8s.io/v1.
func TestKindsVersions(t *testing.T) {
	c := StartCluster(t)
	c.KubectlIn(`apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: old}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 3
  targetCPUUtilizationPercentage: 55
`, "apply", "-f", "-")
	if got := c.Kubectl("get", "horizontalpodautoscalers.v2.autoscaling", "old", "-o", "jsonpath={.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageUtilization} {.spec.minReplicas}"); got != "cpu 55 1" {
		t.Errorf("v1 HPA read as v2: %q, want \"cpu 55 1\"", got)
	}
	c.Kubectl("create", "deployment", "web", "--image=busybox:1.36")
	c.Kubectl("autoscale", "deployment", "web", "--max=5", "--cpu-percent=70")
	if got := c.Kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage}"); got != "autoscaling/v1 70" {
		t.Errorf("v2 HPA read as v1: %q, want \"autoscaling/v1 70\"", got)
	}

	c.KubectlIn(`apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: poke}
eventTime: "2026-01-01T00:00:00.000000Z"
reportingController: example.com/tester
reportingInstance: t1
action: Poke
reason: Poked
note: hello there
type: Normal
regarding: {kind: Deployment, name: web, namespace: default}
`, "apply", "-f", "-")
	if got := c.Kubectl("get", "events", "--field-selector", "involvedObject.kind=Deployment,reason=Poked",
		"-o", "jsonpath={.items[*].message} {.items[*].reportingComponent}"); got != "hello there example.com/tester" {
		t.Errorf("events.k8s.io event seen as core/v1: %q", got)
	}
	mustFail(t, c, "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: bad}\nreason: X\n",
		"eventTime: Required value", "apply", "-f", "-")
}

// row returns the cells of `kubectl get KIND NAME` (the server's Table,
// split on kubectl's column gaps) keyed by column name.
func row(t *testing.T, c *Cluster, args ...string) map[string]string {
	t.Helper()
	out := c.Kubectl(append([]string{"get"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("kubectl get %s: no row in %q", strings.Join(args, " "), out)
	}
	cols, cells := columnGap.Split(lines[0], -1), columnGap.Split(strings.TrimSpace(lines[1]), -1)
	m := map[string]string{}
	for i, col := range cols {
		if i < len(cells) {
			m[col] = cells[i]
		}
	}
	return m
}

// TestKindsPodRows checks the READY, STATUS and RESTARTS cells kubectl
// prints for pods in the states users watch for.
func TestKindsPodRows(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	c.KubectlIn(`apiVersion: v1
kind: Pod
metadata: {name: up}
spec:
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "exit 1"]}
---
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  restartPolicy: Never
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["true"]}
---
apiVersion: v1
kind: Pod
metadata: {name: initing}
spec:
  initContainers:
  - {name: wait, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
`, "apply", "-f", "-")
	for _, tc := range []struct {
		pod   string
		check func(r map[string]string) bool
		want  string
	}{
		{"up", func(r map[string]string) bool {
			return r["READY"] == "1/1" && r["STATUS"] == "Running" && r["RESTARTS"] == "0"
		}, "1/1 Running 0"},
		{"done", func(r map[string]string) bool { return r["READY"] == "0/1" && r["STATUS"] == "Completed" }, "0/1 Completed"},
		{"initing", func(r map[string]string) bool { return r["READY"] == "0/1" && r["STATUS"] == "Init:0/1" }, "0/1 Init:0/1"},
		{"crash", func(r map[string]string) bool {
			return (r["STATUS"] == "CrashLoopBackOff" || r["STATUS"] == "Error") && regexp.MustCompile(`^[1-9]\d* \(\d+s ago\)$`).MatchString(r["RESTARTS"])
		}, `CrashLoopBackOff or Error, RESTARTS "N (Ms ago)"`},
	} {
		Eventually(t, 90*time.Second, func() error {
			if r := row(t, c, "pod", tc.pod); !tc.check(r) {
				return fmt.Errorf("pod %s row %v, want %s", tc.pod, r, tc.want)
			}
			return nil
		})
	}
	if r := row(t, c, "pod", "up", "-o", "wide"); r["NODE"] == "<none>" || r["IP"] == "<none>" || r["NOMINATED NODE"] != "<none>" {
		t.Errorf("wide row of a running pod = %v", r)
	}
}
