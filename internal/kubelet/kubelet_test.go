package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for _, tc := range []struct{ in, want string }{
		{"$(A)", "1"},
		{"x$(A)y$(B)z", "x1ytwoz"},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(A)", "$(A)"},
		{"cost $5", "cost $5"},
		{"$(A", "$(A"},
		{"trailing $", "trailing $"},
	} {
		if got := expand(tc.in, lookup); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"COLOR": "blue", "SIZE": "L"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sec"}, Data: map[string][]byte{"pw": []byte("hunter2")}},
	)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Labels: map[string]string{"app": "x"}}}
	c := &corev1.Container{
		Name:    "c",
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "GREETING", Value: "hi $(CM_COLOR)"},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
	}
	got, err := envSource{client: client}.containerEnv(context.Background(), pod, c, "10.244.0.5", "172.20.0.2", nil)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"CM_COLOR=blue", "CM_SIZE=L", "GREETING=hi blue", "PW=hunter2", "POD=p", "IP=10.244.0.5", "APP=x", "MEM=64"} {
		if !strings.Contains(joined, want) {
			t.Errorf("containerEnv() = %v, missing %q", got, want)
		}
	}

	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope"}}}}
	if _, err := (envSource{client: client}).containerEnv(context.Background(), pod, c, "", "", nil); err == nil || !strings.Contains(err.Error(), "couldn't find key nope in ConfigMap ns/cfg") {
		t.Errorf("missing key error = %v", err)
	}
}

func running() *ContainerInfo {
	return &ContainerInfo{ID: "c1", State: ContainerState{Running: true, StartedAt: time.Unix(100, 0)}}
}

func exited(code int) *ContainerInfo {
	return &ContainerInfo{ID: "c0", State: ContainerState{ExitCode: code, FinishedAt: time.Unix(90, 0)}}
}

func TestContainerStatus(t *testing.T) {
	c := &corev1.Container{Name: "app", Image: "busybox"}
	for _, tc := range []struct {
		name        string
		v           containerView
		wantState   string
		wantReason  string
		wantLast    string
		wantReady   bool
		wantRestart int32
	}{
		{"nothing yet is ContainerCreating", containerView{ready: true, started: true}, "waiting", ReasonContainerCreating, "", false, 0},
		{"running and ready", containerView{current: running(), ready: true, started: true}, "running", "", "", true, 0},
		{"running, readiness failing", containerView{current: running(), ready: false, started: true}, "running", "", "", false, 0},
		{"exit 1 shows Error", containerView{current: exited(1)}, "terminated", ReasonError, "", false, 0},
		{"exit 0 shows Completed", containerView{current: exited(0)}, "terminated", ReasonCompleted, "", false, 0},
		{"back-off keeps the exit as lastState", containerView{current: exited(1), restarts: 3,
			waiting: &corev1.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff}}, "waiting", ReasonCrashLoopBackOff, ReasonError, false, 3},
		{"restarted container shows the previous exit", containerView{current: running(), previous: exited(137), restarts: 1, ready: true, started: true},
			"running", "", ReasonError, true, 1},
		{"pull failure", containerView{waiting: &corev1.ContainerStateWaiting{Reason: ReasonErrImagePull, Message: "not found"}}, "waiting", ReasonErrImagePull, "", false, 0},
		{"start error carries the runtime message", containerView{current: &ContainerInfo{ID: "x", State: ContainerState{Error: `exec: "nope": executable file not found in $PATH`}}},
			"terminated", ReasonStartError, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := containerStatus(c, tc.v)
			state, reason := "", ""
			switch {
			case s.State.Waiting != nil:
				state, reason = "waiting", s.State.Waiting.Reason
			case s.State.Running != nil:
				state = "running"
			case s.State.Terminated != nil:
				state, reason = "terminated", s.State.Terminated.Reason
			}
			if state != tc.wantState || reason != tc.wantReason {
				t.Errorf("state = %s/%s, want %s/%s", state, reason, tc.wantState, tc.wantReason)
			}
			last := ""
			if s.LastTerminationState.Terminated != nil {
				last = s.LastTerminationState.Terminated.Reason
			}
			if last != tc.wantLast {
				t.Errorf("lastState = %q, want %q", last, tc.wantLast)
			}
			if s.Ready != tc.wantReady || s.RestartCount != tc.wantRestart {
				t.Errorf("ready, restarts = %v, %d, want %v, %d", s.Ready, s.RestartCount, tc.wantReady, tc.wantRestart)
			}
		})
	}
}

func st(state string, code int32) corev1.ContainerStatus {
	switch state {
	case "running":
		return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	case "waiting":
		return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}}}
	case "crashloop":
		return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func TestPodPhase(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		init   []corev1.ContainerStatus
		app    []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{"creating", corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{st("waiting", 0)}, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{st("running", 0)}, corev1.PodRunning},
		{"init running keeps Pending", corev1.RestartPolicyAlways, []corev1.ContainerStatus{st("running", 0)}, []corev1.ContainerStatus{st("waiting", 0)}, corev1.PodPending},
		{"init failed with Never", corev1.RestartPolicyNever, []corev1.ContainerStatus{st("terminated", 1)}, []corev1.ContainerStatus{st("waiting", 0)}, corev1.PodFailed},
		{"crash looping stays Running", corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{st("crashloop", 1)}, corev1.PodRunning},
		{"all succeeded with Never", corev1.RestartPolicyNever, nil, []corev1.ContainerStatus{st("terminated", 0), st("terminated", 0)}, corev1.PodSucceeded},
		{"one failed with Never", corev1.RestartPolicyNever, nil, []corev1.ContainerStatus{st("terminated", 0), st("terminated", 2)}, corev1.PodFailed},
		{"succeeded with OnFailure", corev1.RestartPolicyOnFailure, nil, []corev1.ContainerStatus{st("terminated", 0)}, corev1.PodSucceeded},
		{"one still running", corev1.RestartPolicyNever, nil, []corev1.ContainerStatus{st("terminated", 0), st("running", 0)}, corev1.PodRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podPhase(&corev1.PodSpec{RestartPolicy: tc.policy}, tc.init, tc.app); got != tc.want {
				t.Errorf("podPhase() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPodConditions(t *testing.T) {
	now := metav1.Now()
	earlier := metav1.NewTime(now.Add(-time.Hour))
	old := []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: earlier}}
	notReady := st("running", 0)
	notReady.Name = "app"
	conds := podConditions(old, &corev1.PodSpec{}, corev1.PodRunning, nil, []corev1.ContainerStatus{notReady}, now)
	get := func(tp corev1.PodConditionType) corev1.PodCondition {
		for _, c := range conds {
			if c.Type == tp {
				return c
			}
		}
		t.Fatalf("no %s condition in %v", tp, conds)
		return corev1.PodCondition{}
	}
	if c := get(corev1.PodReady); c.Status != corev1.ConditionFalse || c.Reason != ReasonContainersNotReady || c.Message != "containers with unready status: [app]" || !c.LastTransitionTime.Equal(&earlier) {
		t.Errorf("Ready = %+v", c)
	}
	if c := get(corev1.PodInitialized); c.Status != corev1.ConditionTrue {
		t.Errorf("Initialized = %+v", c)
	}
	if c := get(corev1.PodScheduled); !c.LastTransitionTime.Equal(&earlier) {
		t.Errorf("PodScheduled lost its time: %+v", c)
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	for _, tc := range []struct {
		name string
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"nothing set", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"limits equal requests", corev1.ResourceRequirements{Requests: rl("1", "1Gi"), Limits: rl("1", "1Gi")}, corev1.PodQOSGuaranteed},
		{"requests only", corev1.ResourceRequirements{Requests: rl("1", "1Gi")}, corev1.PodQOSBurstable},
	} {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Resources: tc.res}}}
		if got := qosClass(spec); got != tc.want {
			t.Errorf("%s: qosClass() = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoffs()
	t0 := time.Unix(1000, 0)
	if in, _ := b.inBackoff("c", t0, t0); in {
		t.Fatal("first restart must be immediate")
	}
	var delays []time.Duration
	now := t0
	for range 7 {
		b.next("c", now)
		delays = append(delays, b.current("c"))
		now = now.Add(b.current("c"))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays = %v, want %v", delays, want)
		}
	}
	exit := now
	if in, left := b.inBackoff("c", exit, exit.Add(time.Minute)); !in || left != 4*time.Minute {
		t.Errorf("inBackoff one minute after the exit = %v, %v, want true, 4m", in, left)
	}
	if in, _ := b.inBackoff("c", exit, exit.Add(20*time.Minute)); in {
		t.Error("an entry idle for twice the cap must start over")
	}
}

func TestBuildContainerConfig(t *testing.T) {
	uid, gid, fsg := int64(1000), int64(3000), int64(2000)
	ro := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, FSGroup: &fsg},
			Volumes:         []corev1.Volume{{Name: "data"}},
		},
	}
	c := &corev1.Container{
		Name:         "app",
		Command:      []string{"sh", "-c"},
		Args:         []string{"echo $(MSG)"},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "sub", ReadOnly: true}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &ro, Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}},
	}
	pod.Spec.Containers = []corev1.Container{*c}
	cfg, err := buildContainerConfig(pod, c, containerSpecInput{
		attempt: 2, env: []string{"MSG=hello"}, volumes: map[string]string{"data": "/v/data"},
		sb: &sandbox{NetNS: "/n", IPCNS: "/i", UTSNS: "/u"}, podDir: "/pods/u1", cgroups: "/berth/kubepods", imageRef: "busybox",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Cmd, " "); got != "echo hello" {
		t.Errorf("Cmd = %q, want args with $(MSG) expanded", got)
	}
	if cfg.User != "1000:3000" || len(cfg.SupplementaryGroups) != 1 || cfg.SupplementaryGroups[0] != 2000 {
		t.Errorf("User, groups = %q, %v", cfg.User, cfg.SupplementaryGroups)
	}
	if cfg.CPUShares != 256 || cfg.CPUQuota != 50000 || cfg.MemoryLimit != 64<<20 {
		t.Errorf("resources = shares %d quota %d mem %d", cfg.CPUShares, cfg.CPUQuota, cfg.MemoryLimit)
	}
	if cfg.CgroupParent != "/berth/kubepods/burstable/podu1" {
		t.Errorf("CgroupParent = %q", cfg.CgroupParent)
	}
	if len(cfg.Mounts) != 1 || cfg.Mounts[0].Source != "/v/data/sub" || !cfg.Mounts[0].ReadOnly {
		t.Errorf("Mounts = %+v", cfg.Mounts)
	}
	if cfg.NetNS != "/n" || cfg.IPCNS != "/i" || cfg.UTSNS != "/u" || !cfg.ReadonlyRootfs || cfg.CapAdd[0] != "NET_ADMIN" {
		t.Errorf("namespaces/security = %+v", cfg)
	}
	if cfg.Name != "k8s_app_p_ns_u1_2" || cfg.Labels[LabelRestartCount] != "2" {
		t.Errorf("name/labels = %s %v", cfg.Name, cfg.Labels)
	}
	c.VolumeMounts[0].SubPath = "../escape"
	if _, err := buildContainerConfig(pod, c, containerSpecInput{volumes: map[string]string{"data": "/v"}}); err == nil {
		t.Error("a subPath leaving the volume was accepted")
	}
}

func TestResolvConf(t *testing.T) {
	host := []byte("nameserver 192.0.2.53\nsearch example.org\n")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}}
	want := "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
	if got := string(resolvConf(pod, "10.96.0.10", "cluster.local", host)); got != want {
		t.Errorf("ClusterFirst resolv.conf =\n%s\nwant\n%s", got, want)
	}
	pod.Spec.DNSPolicy = corev1.DNSDefault
	if got := string(resolvConf(pod, "10.96.0.10", "cluster.local", host)); !strings.Contains(got, "nameserver 192.0.2.53") || strings.Contains(got, "10.96.0.10") {
		t.Errorf("Default resolv.conf = %q, want the host's", got)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	if err := writeAtomic(dir, []volumeFile{{"a", []byte("1"), 0o644}, {"sub/b", []byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || string(b) != "1" {
		t.Fatalf("a = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "b")); err != nil || string(b) != "2" {
		t.Fatalf("sub/b = %q, %v", b, err)
	}
	first, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := writeAtomic(dir, []volumeFile{{"a", []byte("1"), 0o644}, {"sub/b", []byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, "..data")); again != first {
		t.Errorf("unchanged content was rewritten (%s -> %s)", first, again)
	}
	// A ConfigMap update: a changes, sub/b goes away.
	if err := writeAtomic(dir, []volumeFile{{"a", []byte("new"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "new" {
		t.Errorf("a after update = %q, want new", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("sub still present after it left the set: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Errorf("old data dir %s was not removed", first)
	}
	if err := writeAtomic(dir, []volumeFile{{"../x", nil, 0o644}}); err == nil {
		t.Error("a path leaving the volume was accepted")
	}
}

func TestNodeStatus(t *testing.T) {
	h := hostInfo{cpus: 2, memory: 24 << 30, storage: 100 << 30, kernel: "6.18", osImage: "Debian", hostname: "h", podCIDRSet: true, kubeletPort: 10250}
	s := nodeStatus(h, "172.20.0.2", nil, metav1.Now())
	if s.Capacity.Cpu().Value() != 2 || s.Allocatable.Pods().Value() != MaxPods {
		t.Errorf("capacity = %v", s.Capacity)
	}
	if s.NodeInfo.ContainerRuntimeVersion[:8] != "berth://" || s.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("nodeInfo/endpoint = %+v %+v", s.NodeInfo, s.DaemonEndpoints)
	}
	if s.Addresses[0].Type != corev1.NodeInternalIP || s.Addresses[0].Address != "172.20.0.2" {
		t.Errorf("addresses = %v", s.Addresses)
	}
	ready := s.Conditions[len(s.Conditions)-1]
	if ready.Type != corev1.NodeReady || ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" {
		t.Errorf("Ready = %+v", ready)
	}
	h.podCIDRSet = false
	if r := nodeStatus(h, "", nil, metav1.Now()).Conditions[3]; r.Status != corev1.ConditionFalse {
		t.Errorf("Ready without pod CIDR = %+v, want False", r)
	}
}

func TestPodCgroupLimits(t *testing.T) {
	c := func(cpuLim, memLim, cpuReq string) corev1.Container {
		r := corev1.ResourceRequirements{Limits: corev1.ResourceList{}, Requests: corev1.ResourceList{}}
		if cpuLim != "" {
			r.Limits[corev1.ResourceCPU] = resource.MustParse(cpuLim)
		}
		if memLim != "" {
			r.Limits[corev1.ResourceMemory] = resource.MustParse(memLim)
		}
		if cpuReq != "" {
			r.Requests[corev1.ResourceCPU] = resource.MustParse(cpuReq)
		}
		return corev1.Container{Resources: r}
	}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want podLimits
	}{
		{"best effort has only the minimum shares", corev1.PodSpec{Containers: []corev1.Container{c("", "", "")}}, podLimits{shares: 2}},
		{"limits on every container add up", corev1.PodSpec{Containers: []corev1.Container{c("500m", "64Mi", "250m"), c("1", "32Mi", "")}},
			podLimits{memory: 96 << 20, quota: 150000, shares: 1280}},
		{"one container without a memory limit leaves the pod unbounded", corev1.PodSpec{Containers: []corev1.Container{c("500m", "64Mi", ""), c("500m", "", "")}},
			podLimits{quota: 100000, shares: 1024}},
		{"a larger init container wins", corev1.PodSpec{InitContainers: []corev1.Container{c("2", "1Gi", "")}, Containers: []corev1.Container{c("500m", "64Mi", "")}},
			podLimits{memory: 1 << 30, quota: 200000, shares: 512}},
	} {
		if got := podCgroupLimits(&tc.spec); got != tc.want {
			t.Errorf("%s: podCgroupLimits() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
