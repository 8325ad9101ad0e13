package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// getPod reads a pod with kubectl -o json.
func getPod(t *testing.T, c *Cluster, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal([]byte(c.Kubectl("get", "pod", name, "-o", "json")), &p); err != nil {
		t.Fatalf("decode pod %s: %v", name, err)
	}
	return &p
}

// waitPod polls the pod until check passes.
func waitPod(t *testing.T, c *Cluster, name string, timeout time.Duration, check func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	Eventually(t, timeout, func() error {
		out, err := c.KubectlErr("", "get", "pod", name, "-o", "json")
		if err != nil {
			return fmt.Errorf("get pod: %v: %s", err, out)
		}
		var p corev1.Pod
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			return err
		}
		last = &p
		return check(&p)
	})
	return last
}

func podRunning(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return fmt.Errorf("phase %s, ip %q, statuses %+v", p.Status.Phase, p.Status.PodIP, p.Status.ContainerStatuses)
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil {
			return fmt.Errorf("container %s not running: %+v", s.Name, s.State)
		}
	}
	return nil
}

func podWaiting(reason string) func(*corev1.Pod) error {
	return func(p *corev1.Pod) error {
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no container waiting with %s: %+v", reason, p.Status.ContainerStatuses)
	}
}

// podEvents returns "Reason: message" lines for one object.
func podEvents(c *Cluster, name string) string {
	out, _ := c.KubectlErr("", "get", "events", "--field-selector", "involvedObject.name="+name,
		"-o", `jsonpath={range .items[*]}{.reason}: {.message}{"\n"}{end}`)
	return out
}

const podsManifest = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {COLOR: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo web-started; exec httpd -f -p 8080 -h /etc"]
---
apiVersion: v1
kind: Pod
metadata: {name: multi}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: init
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo from-init > /work/msg"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: server
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "8080", "-h", "/work"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: client
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: cfg, key: COLOR}}
    volumeMounts: [{name: sec, mountPath: /etc/sec, readOnly: true}, {name: cfg, mountPath: /etc/cfg}]
  volumes:
  - {name: work, emptyDir: {}}
  - {name: sec, secret: {secretName: sec}}
  - {name: cfg, configMap: {name: cfg}}
`

// TestPods runs the acceptance list for pods on one cluster.
func TestPods(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	c.KubectlIn(podsManifest, "apply", "-f", "-")

	web := waitPod(t, c, "web", time.Minute, podRunning)
	t.Run("pod IP reachable from the node", func(t *testing.T) {
		body, err := c.HTTPGet("http://" + web.Status.PodIP + ":8080/hostname")
		if err != nil || body != "web\n" {
			t.Errorf("curl pod IP = %q, %v; want the pod's hostname", body, err)
		}
		if web.Status.HostIP != NodeIP || web.Status.QOSClass != corev1.PodQOSBestEffort {
			t.Errorf("hostIP %q qosClass %q", web.Status.HostIP, web.Status.QOSClass)
		}
		ev := podEvents(c, "web")
		for _, want := range []string{"Scheduled: Successfully assigned default/web to node1", "Created: Created container: app", "Started: Started container app"} {
			if !strings.Contains(ev, want) {
				t.Errorf("events lack %q:\n%s", want, ev)
			}
		}
	})
	t.Run("logs", func(t *testing.T) {
		if out := c.Kubectl("logs", "web"); out != "web-started\n" {
			t.Errorf("kubectl logs = %q", out)
		}
		if out := c.Kubectl("logs", "web", "--timestamps", "--tail=1"); !strings.HasSuffix(out, " web-started\n") || !strings.HasPrefix(out, "20") {
			t.Errorf("kubectl logs --timestamps = %q", out)
		}
	})
	t.Run("exec", func(t *testing.T) {
		if out := c.Kubectl("exec", "web", "--", "sh", "-c", "cat /etc/resolv.conf"); !strings.Contains(out, "nameserver 10.96.0.10") ||
			!strings.Contains(out, "search default.svc.cluster.local svc.cluster.local cluster.local") || !strings.Contains(out, "options ndots:5") {
			t.Errorf("resolv.conf in the pod:\n%s", out)
		}
		if _, err := c.KubectlErr("", "exec", "web", "--", "sh", "-c", "exit 3"); exitCode(err) != 3 {
			t.Errorf("kubectl exec exit code = %v, want 3", err)
		}
		if out := c.KubectlIn("piped\n", "exec", "-i", "web", "--", "cat"); out != "piped\n" {
			t.Errorf("kubectl exec -i cat = %q", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		so, se, err := c.Run(ctx, "", "script", "-qec", "kubectl exec -it web -- sh -c 'echo hi-$((6*7)); tty'", "/dev/null")
		if err != nil || !strings.Contains(so, "hi-42") || !strings.Contains(so, "/dev/pts/") {
			t.Errorf("kubectl exec -it: %v\nstdout %q\nstderr %q", err, so, se)
		}
	})
	t.Run("port-forward", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pf := c.Net.Command(ctx, "kubectl", "port-forward", "pod/web", "18080:8080")
		pf.Env = c.env()
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); pf.Wait() }()
		var body string
		Eventually(t, 20*time.Second, func() error {
			var err error
			body, err = c.HTTPGet("http://127.0.0.1:18080/hostname")
			return err
		})
		if body != "web\n" {
			t.Errorf("curl through port-forward = %q", body)
		}
	})
	t.Run("two containers, init container, configmap and secret", func(t *testing.T) {
		waitPod(t, c, "multi", time.Minute, podRunning)
		out := c.Kubectl("exec", "multi", "-c", "client", "--", "sh", "-c",
			`echo "$COLOR"; cat /etc/sec/password; echo; wget -q -O - http://127.0.0.1:8080/msg`)
		if out != "blue\nhunter2\nfrom-init\n" {
			t.Errorf("client sees %q, want the ConfigMap value, the Secret and the init container's file via localhost", out)
		}
	})
	t.Run("configMap volume follows updates", func(t *testing.T) {
		if out := c.Kubectl("exec", "multi", "-c", "client", "--", "cat", "/etc/cfg/COLOR"); out != "blue" {
			t.Fatalf("/etc/cfg/COLOR = %q, want blue", out)
		}
		c.Kubectl("patch", "configmap", "cfg", "--type=merge", "-p", `{"data":{"COLOR":"green"}}`)
		Eventually(t, time.Minute, func() error {
			out, err := c.KubectlErr("", "exec", "multi", "-c", "client", "--", "cat", "/etc/cfg/COLOR")
			if err != nil || out != "green" {
				return fmt.Errorf("/etc/cfg/COLOR = %q, %v", out, err)
			}
			return nil
		})
	})
	t.Run("killed container restarts", func(t *testing.T) {
		id := strings.TrimPrefix(getPod(t, c, "web").Status.ContainerStatuses[0].ContainerID, "berth://")
		pid := strings.TrimSpace(c.Docker("inspect", "-f", "{{.State.Pid}}", id))
		if out, err := exec.Command("kill", "-9", pid).CombinedOutput(); err != nil {
			t.Fatalf("kill %s: %v %s", pid, err, out)
		}
		p := waitPod(t, c, "web", 30*time.Second, func(p *corev1.Pod) error {
			if err := podRunning(p); err != nil {
				return err
			}
			if p.Status.ContainerStatuses[0].RestartCount != 1 {
				return fmt.Errorf("restartCount %d", p.Status.ContainerStatuses[0].RestartCount)
			}
			return nil
		})
		if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 {
			t.Errorf("lastState = %+v, want terminated with 137", p.Status.ContainerStatuses[0].LastTerminationState)
		}
		if _, err := c.HTTPGet("http://" + p.Status.PodIP + ":8080/hostname"); err != nil {
			t.Errorf("restarted container unreachable: %v", err)
		}
	})

	c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo boom; exit 1"]}
---
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    livenessProbe: {exec: {command: ["false"]}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: unready}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  containers:
  - {name: app, image: busybox, resources: {requests: {cpu: "64"}}}
---
apiVersion: v1
kind: Pod
metadata: {name: badimage}
spec:
  containers:
  - {name: app, image: "nosuch/image:v1"}
---
apiVersion: v1
kind: Pod
metadata: {name: badcmd}
spec:
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["/nope"]}
`, "apply", "-f", "-")

	t.Run("exit 1 reaches CrashLoopBackOff with growing delays", func(t *testing.T) {
		p := waitPod(t, c, "crash", time.Minute, podWaiting("CrashLoopBackOff"))
		if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.HasPrefix(msg, "back-off 10s restarting failed container=app pod=crash_default(") {
			t.Errorf("first back-off message = %q", msg)
		}
		p = waitPod(t, c, "crash", time.Minute, func(p *corev1.Pod) error {
			if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || !strings.HasPrefix(w.Message, "back-off 20s") {
				return fmt.Errorf("state %+v", p.Status.ContainerStatuses[0].State)
			}
			return nil
		})
		if p.Status.ContainerStatuses[0].RestartCount < 2 {
			t.Errorf("restartCount = %d at the 20 s back-off", p.Status.ContainerStatuses[0].RestartCount)
		}
		if out := c.Kubectl("logs", "crash", "--previous"); out != "boom\n" {
			t.Errorf("logs --previous = %q", out)
		}
		if ev := podEvents(c, "crash"); !strings.Contains(ev, "BackOff: Back-off restarting failed container app in pod crash_default(") {
			t.Errorf("no BackOff event:\n%s", ev)
		}
	})
	t.Run("failing liveness probe restarts", func(t *testing.T) {
		waitPod(t, c, "live", time.Minute, func(p *corev1.Pod) error {
			if p.Status.ContainerStatuses[0].RestartCount < 1 {
				return fmt.Errorf("restartCount %d", p.Status.ContainerStatuses[0].RestartCount)
			}
			return nil
		})
		ev := podEvents(c, "live")
		for _, want := range []string{`Unhealthy: Liveness probe failed`, "Killing: Container app failed liveness probe, will be restarted"} {
			if !strings.Contains(ev, want) {
				t.Errorf("events lack %q:\n%s", want, ev)
			}
		}
	})
	t.Run("failing readiness probe keeps Ready=False", func(t *testing.T) {
		p := waitPod(t, c, "unready", time.Minute, podRunning)
		time.Sleep(3 * time.Second) // several probe periods
		p = getPod(t, c, "unready")
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && (cond.Status != corev1.ConditionFalse || cond.Reason != "ContainersNotReady") {
				t.Errorf("Ready = %+v", cond)
			}
		}
		if p.Status.ContainerStatuses[0].Ready || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("container status = %+v", p.Status.ContainerStatuses[0])
		}
	})
	t.Run("too much cpu stays Pending", func(t *testing.T) {
		p := waitPod(t, c, "big", 30*time.Second, func(p *corev1.Pod) error {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Reason == "Unschedulable" {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		})
		if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
			t.Errorf("phase %s node %q", p.Status.Phase, p.Spec.NodeName)
		}
		if ev := podEvents(c, "big"); !strings.Contains(ev, "FailedScheduling: 0/1 nodes are available: 1 Insufficient cpu.") {
			t.Errorf("events:\n%s", ev)
		}
	})
	t.Run("missing image: ErrImagePull then ImagePullBackOff", func(t *testing.T) {
		waitPod(t, c, "badimage", time.Minute, podWaiting("ImagePullBackOff"))
		ev := podEvents(c, "badimage")
		for _, want := range []string{`Pulling: Pulling image "nosuch/image:v1"`, `Failed: Failed to pull image "nosuch/image:v1": `, "Failed: Error: ErrImagePull", `BackOff: Back-off pulling image "nosuch/image:v1"`} {
			if !strings.Contains(ev, want) {
				t.Errorf("events lack %q:\n%s", want, ev)
			}
		}
	})
	t.Run("missing command: the runtime's error in the status", func(t *testing.T) {
		p := waitPod(t, c, "badcmd", time.Minute, func(p *corev1.Pod) error {
			s := p.Status.ContainerStatuses[0]
			for _, st := range []corev1.ContainerState{s.State, s.LastTerminationState} {
				if st.Terminated != nil && st.Terminated.Reason == "StartError" {
					return nil
				}
			}
			return fmt.Errorf("status %+v", s)
		})
		s := p.Status.ContainerStatuses[0]
		term := s.State.Terminated
		if term == nil {
			term = s.LastTerminationState.Terminated
		}
		if !strings.Contains(term.Message, "/nope") || term.ExitCode != 128 {
			t.Errorf("terminated = %+v, want the runtime's message about /nope", term)
		}
	})
	t.Run("securityContext", func(t *testing.T) {
		c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: secure}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    securityContext: {readOnlyRootFilesystem: true}
    resources: {limits: {cpu: 200m, memory: 32Mi}}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes:
  - {name: scratch, emptyDir: {}}
`, "apply", "-f", "-")
		p := waitPod(t, c, "secure", time.Minute, podRunning)
		out := c.Kubectl("exec", "secure", "--", "sh", "-c", `id -u; id -g; id -G; touch /x 2>/dev/null && echo rootfs-writable; touch /scratch/ok && echo scratch-writable; cat /sys/fs/cgroup/memory/memory.limit_in_bytes`)
		lines := strings.Fields(out)
		if len(lines) < 5 || lines[0] != "1000" || lines[1] != "3000" || !strings.Contains(out, "2000") ||
			strings.Contains(out, "rootfs-writable") || !strings.Contains(out, "scratch-writable") {
			t.Errorf("in the pod: %q, want uid 1000, gid 3000, group 2000, a read-only rootfs and a writable emptyDir", out)
		}
		if p.Status.QOSClass != corev1.PodQOSGuaranteed {
			t.Errorf("qosClass = %s, want Guaranteed", p.Status.QOSClass)
		}
		for f, want := range map[string]string{"memory/berth-*/kubepods/pod%s/memory.limit_in_bytes": "33554432", "cpu/berth-*/kubepods/pod%s/cpu.cfs_quota_us": "20000"} {
			m, _ := filepath.Glob("/sys/fs/cgroup/" + fmt.Sprintf(f, p.UID))
			if len(m) != 1 {
				t.Errorf("pod cgroup file %s: %v", f, m)
				continue
			}
			b, _ := os.ReadFile(m[0])
			if got := strings.TrimSpace(string(b)); got != want {
				t.Errorf("%s = %s, want %s (the pod-level limit)", m[0], got, want)
			}
		}
	})
	t.Run("a finished pod keeps its logs and gives its address back", func(t *testing.T) {
		c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  restartPolicy: Never
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo finished; echo all good > /dev/termination-log"]}
`, "apply", "-f", "-")
		p := waitPod(t, c, "done", time.Minute, func(p *corev1.Pod) error {
			if p.Status.Phase != corev1.PodSucceeded {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			return nil
		})
		if r := p.Status.ContainerStatuses[0].State.Terminated; r == nil || r.Reason != "Completed" || r.ExitCode != 0 || r.Message != "all good\n" {
			t.Errorf("state = %+v, want Completed", p.Status.ContainerStatuses[0].State)
		}
		Eventually(t, 30*time.Second, func() error {
			if _, err := os.Stat(filepath.Join(c.DataDir, "kubelet", "network", "netns", string(p.UID))); err == nil {
				return fmt.Errorf("network namespace of the finished pod still there")
			}
			return nil
		})
		if out := c.Kubectl("logs", "done"); out != "finished\n" {
			t.Errorf("logs of the finished pod = %q", out)
		}
	})
	t.Run("deleting pods leaves nothing behind", func(t *testing.T) {
		var uids []string
		for _, n := range []string{"web", "multi", "crash", "live", "unready", "badimage", "badcmd", "done", "secure"} {
			uids = append(uids, string(getPod(t, c, n).UID))
		}
		c.Kubectl("delete", "pod", "--all", "--grace-period=1", "--wait=true")
		assertNoPodLeftovers(t, c, uids)
	})
}

// assertNoPodLeftovers checks the host for anything pods had: mounts,
// pinned namespaces, veths, IP leases and cgroups.
func assertNoPodLeftovers(t *testing.T, c *Cluster, uids []string) {
	t.Helper()
	kdir := filepath.Join(c.DataDir, "kubelet")
	Eventually(t, 30*time.Second, func() error {
		mounts, _ := os.ReadFile("/proc/self/mounts")
		if strings.Contains(string(mounts), kdir+"/") {
			return fmt.Errorf("mounts left under %s", kdir)
		}
		if ents, _ := os.ReadDir(filepath.Join(kdir, "pods")); len(ents) > 0 {
			return fmt.Errorf("pod directories left: %v", ents)
		}
		if ents, _ := os.ReadDir(filepath.Join(kdir, "network", "netns")); len(ents) > 0 {
			return fmt.Errorf("network namespaces left: %v", ents)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		links, _, err := c.Run(ctx, "", "ip", "-o", "link", "show", "type", "veth")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(links), "\n") {
			if strings.Contains(l, "master cni-berth0") {
				return fmt.Errorf("pod veth left: %s", l)
			}
		}
		leases, _ := filepath.Glob(filepath.Join(kdir, "network", "ipam", "*", "10.*"))
		if len(leases) > 0 {
			return fmt.Errorf("IP leases left: %v", leases)
		}
		for _, uid := range uids {
			for _, pat := range []string{"/sys/fs/cgroup/*/berth-*/kubepods/pod" + uid, "/sys/fs/cgroup/*/berth-*/kubepods/*/pod" + uid} {
				if m, _ := filepath.Glob(pat); len(m) > 0 {
					return fmt.Errorf("cgroups left: %v", m)
				}
			}
		}
		if out := c.Docker("ps", "-aq", "--filter", "label=io.kubernetes.pod.namespace=default"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("containers left: %s", out)
		}
		return nil
	})
}

// TestPodsSurviveAgentRestart: restarting berth adopts running pods
// without restarting their containers.
func TestPodsSurviveAgentRestart(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]}
`, "apply", "-f", "-")
	before := waitPod(t, c, "keeper", time.Minute, podRunning)
	c.Stop()
	c.Start()
	after := waitPod(t, c, "keeper", time.Minute, func(p *corev1.Pod) error {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return podRunning(p)
			}
		}
		return fmt.Errorf("not ready: %+v", p.Status.Conditions)
	})
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.ContainerID != b.ContainerID || a.RestartCount != 0 || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("after restart: id %s ip %s restarts %d; before: id %s ip %s", a.ContainerID, after.Status.PodIP, a.RestartCount, b.ContainerID, before.Status.PodIP)
	}
	if _, err := c.HTTPGet("http://" + after.Status.PodIP + ":8080/hostname"); err != nil {
		t.Errorf("adopted pod unreachable: %v", err)
	}
	c.Kubectl("delete", "pod", "keeper", "--wait=true")
	assertNoPodLeftovers(t, c, []string{string(before.UID)})
}

// TestPodsHelloSeed is the seed's hello-pod: kubetm/hello built and pushed
// with docker, then run by a pod that pulls it through the registry mirror.
func TestPodsHelloSeed(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	dir := seedContext(t)
	c.dockerIn(t, dir, "build", "-t", "kubetm/hello", ".")
	creds, err := os.ReadFile(filepath.Join(c.DataDir, "registry-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := strings.Cut(strings.TrimSpace(string(creds)), ":")
	if out, err := c.DockerErr(pass+"\n", "login", "-u", user, "--password-stdin"); err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	c.Docker("push", "kubetm/hello")
	c.Docker("rmi", "kubetm/hello") // the pod must pull it

	c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata:
  name: hello-pod
  labels: {app: hello}
spec:
  containers:
  - name: hello
    image: kubetm/hello
    ports:
    - containerPort: 8000
`, "apply", "-f", "-")
	p := waitPod(t, c, "hello-pod", 2*time.Minute, podRunning)
	if ev := podEvents(c, "hello-pod"); !strings.Contains(ev, `Pulled: Successfully pulled image "kubetm/hello"`) {
		t.Errorf("events:\n%s", ev)
	}
	// exec, logs and port-forward first: the seed's hello.js exits after
	// answering once, and then restarts.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	so, se, err := c.Run(ctx, "", "script", "-qec", "kubectl exec -it hello-pod -- /bin/bash -c 'echo hi'", "/dev/null")
	if err != nil || !strings.Contains(so, "hi") {
		t.Errorf("kubectl exec -it: %v\nstdout %q\nstderr %q", err, so, se)
	}
	c.Kubectl("logs", "hello-pod")

	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	pf := c.Net.Command(pctx, "kubectl", "port-forward", "pod/hello-pod", "18000:8000")
	pf.Env = c.env()
	var pfOut strings.Builder
	pf.Stdout, pf.Stderr = &pfOut, &pfOut
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pcancel(); pf.Wait() }()
	var body string
	Eventually(t, time.Minute, func() error {
		body, err = c.HTTPGet("http://127.0.0.1:18000/")
		if err != nil {
			return fmt.Errorf("%v (kubectl port-forward: %s)", err, pfOut.String())
		}
		return nil
	})
	if body != "Hello Kubernetes!\n" {
		t.Errorf("curl through port-forward = %q", body)
	}
	// hello.js exits after each answer; the kubelet restarts it.
	Eventually(t, time.Minute, func() error {
		body, err = c.HTTPGet("http://" + p.Status.PodIP + ":8000/")
		return err
	})
	if body != "Hello Kubernetes!\n" {
		t.Errorf("curl POD_IP:8000 = %q", body)
	}
}

// TestSimulatedNodes: `berth agent --simulate 3` joins three nodes labelled
// berth.dev/simulated=true that report bound pods Running and finish their
// deletion, without containers.
func TestSimulatedNodes(t *testing.T) {
	c := StartCluster(t)
	token, err := os.ReadFile(filepath.Join(c.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := c.Net.Command(ctx, Binary(t), "agent", "--simulate", "3", "--server", "https://"+NodeIP+":6443",
		"--token", strings.TrimSpace(string(token)), "--data-dir", t.TempDir(), "--node-name", "sim")
	var simOut strings.Builder
	sim.Stdout, sim.Stderr = &simOut, &simOut
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		sim.Wait()
		if t.Failed() {
			t.Logf("simulated agent output:\n%s", simOut.String())
		}
	}()
	Eventually(t, time.Minute, func() error {
		out, err := c.KubectlErr("", "get", "nodes", "-l", "berth.dev/simulated=true",
			"-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		if err != nil || out != "sim-sim-0=True sim-sim-1=True sim-sim-2=True " {
			return fmt.Errorf("simulated nodes: %q %v", out, err)
		}
		return nil
	})
	c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: onsim}
spec:
  nodeSelector: {berth.dev/simulated: "true"}
  containers:
  - {name: app, image: never/pulled}
`, "apply", "-f", "-")
	p := waitPod(t, c, "onsim", time.Minute, func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
	if !strings.HasPrefix(p.Spec.NodeName, "sim-sim-") {
		t.Errorf("bound to %q, want a simulated node", p.Spec.NodeName)
	}
	c.Kubectl("delete", "pod", "onsim", "--wait=true", "--timeout=60s")
}
