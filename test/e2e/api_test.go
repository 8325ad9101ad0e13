package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// seedService is the seed's Service, with an externalIP of the course's
// VMs (the test namespace has no route out, so it is only an address).
const seedService = `apiVersion: v1
kind: Service
metadata:
  name: hello-svc
spec:
  selector:
    app: hello
  ports:
    - port: 8200
      targetPort: 8000
  externalIPs:
  - 192.168.56.30
`

// TestAPIKubectlSeedManifests drives the seed's Pod and Service through
// apply, get -o wide/-o yaml, describe, re-apply, server-side apply and
// delete -f, as a user following the course would.
func TestAPIKubectlSeedManifests(t *testing.T) {
	c := StartCluster(t)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "hello.yaml")
	write := func(s string) {
		if err := os.WriteFile(manifest, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(seedPod + "---\n" + seedService)

	out := c.Kubectl("apply", "-f", manifest)
	for _, w := range []string{"pod/hello-pod created", "service/hello-svc created"} {
		if !strings.Contains(out, w) {
			t.Errorf("apply: no %q in %q", w, out)
		}
	}

	wide := c.Kubectl("get", "pods,svc", "-o", "wide")
	for _, w := range []string{"NOMINATED NODE", "READINESS GATES", "hello-pod", "SELECTOR", "hello-svc", "192.168.56.30", "8200/TCP", "app=hello"} {
		if !strings.Contains(wide, w) {
			t.Errorf("get pods,svc -o wide: no %q in\n%s", w, wide)
		}
	}

	// Defaults filled in by the server, as -o yaml shows them.
	checks := []struct{ obj, path, want string }{
		{"pod/hello-pod", "{.spec.restartPolicy}", "Always"},
		{"pod/hello-pod", "{.spec.dnsPolicy}", "ClusterFirst"},
		{"pod/hello-pod", "{.spec.terminationGracePeriodSeconds}", "30"},
		{"pod/hello-pod", "{.spec.containers[0].ports[0].protocol}", "TCP"},
		{"pod/hello-pod", "{.spec.containers[0].terminationMessagePath}", "/dev/termination-log"},
		{"svc/hello-svc", "{.spec.type}", "ClusterIP"},
		{"svc/hello-svc", "{.spec.sessionAffinity}", "None"},
		{"svc/hello-svc", "{.spec.ports[0].protocol}", "TCP"},
	}
	for _, ck := range checks {
		if got := c.Kubectl("get", ck.obj, "-o", "jsonpath="+ck.path); got != ck.want {
			t.Errorf("%s %s = %q, want %q", ck.obj, ck.path, got, ck.want)
		}
	}
	yml := c.Kubectl("get", "pod", "hello-pod", "-o", "yaml")
	for _, w := range []string{"uid:", "creationTimestamp:", "resourceVersion:", "imagePullPolicy:"} {
		if !strings.Contains(yml, w) {
			t.Errorf("get -o yaml: no %q in\n%s", w, yml)
		}
	}
	desc := c.Kubectl("describe", "pod", "hello-pod")
	for _, w := range []string{"hello-pod", "app=hello", "hello-container", "kubetm/hello", "8000/TCP"} {
		if !strings.Contains(desc, w) {
			t.Errorf("describe pod: no %q in\n%s", w, desc)
		}
	}

	if out := c.Kubectl("apply", "-f", manifest); strings.Count(out, "unchanged") != 2 {
		t.Errorf("re-apply of the same manifest: want both unchanged, got %q", out)
	}
	write(strings.Replace(seedPod, "app: hello", "app: hello\n    tier: web", 1) + "---\n" + seedService)
	if out := c.Kubectl("apply", "-f", manifest); !strings.Contains(out, "pod/hello-pod configured") {
		t.Errorf("apply with a new label: %q", out)
	}
	if got := c.Kubectl("get", "pod", "hello-pod", "-o", "jsonpath={.metadata.labels.tier}"); got != "web" {
		t.Errorf("label tier after apply = %q, want web", got)
	}
	if out := c.Kubectl("apply", "--server-side", "--force-conflicts", "-f", manifest); !strings.Contains(out, "serverside-applied") {
		t.Errorf("apply --server-side: %q", out)
	}
	mf := c.Kubectl("get", "pod", "hello-pod", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	if !strings.Contains(mf, "kubectl") {
		t.Errorf("managedFields managers = %q, want kubectl's", mf)
	}

	c.Kubectl("delete", "-f", manifest, "--wait=false")
	Eventually(t, 30*time.Second, func() error {
		out, err := c.KubectlErr("", "get", "pod/hello-pod", "svc/hello-svc", "--ignore-not-found", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %q %v", out, err)
		}
		return nil
	})
}

// TestAPIKubectlCommands covers the everyday kubectl commands and the
// server's rejections with upstream's messages.
func TestAPIKubectlCommands(t *testing.T) {
	c := StartCluster(t)

	ar := c.Kubectl("api-resources")
	for _, w := range []string{"pods", "po", "deployments", "deploy", "apps/v1", "horizontalpodautoscalers", "hpa", "autoscaling/v2", "leases", "endpointslices", "storageclasses"} {
		if !strings.Contains(ar, w) {
			t.Errorf("api-resources: no %q", w)
		}
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		c.Kubectl("get", "namespace", ns)
	}
	if ip := c.Kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"); ip != "10.96.0.1" {
		t.Errorf("kubernetes service ClusterIP = %q", ip)
	}
	if all := c.Kubectl("get", "all", "-A"); !strings.Contains(all, "service/kubernetes") {
		t.Errorf("get all -A: no service/kubernetes in\n%s", all)
	}

	t.Run("configmap secret label annotate edit", func(t *testing.T) {
		c.Kubectl("create", "configmap", "cfg", "--from-literal=color=blue")
		c.Kubectl("create", "secret", "generic", "pw", "--from-literal=password=s3cret")
		if got := c.Kubectl("get", "secret", "pw", "-o", "jsonpath={.data.password}"); got != "czNjcmV0" {
			t.Errorf("secret data = %q", got)
		}
		c.Kubectl("label", "configmap", "cfg", "team=a")
		c.Kubectl("annotate", "configmap", "cfg", "note=hello")
		editor := filepath.Join(t.TempDir(), "editor.sh")
		if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if so, se, err := c.Run(ctx, "", "env", "EDITOR="+editor, "kubectl", "edit", "configmap", "cfg"); err != nil {
			t.Fatalf("kubectl edit: %v %s %s", err, so, se)
		}
		got := c.Kubectl("get", "configmap", "cfg", "-o", "jsonpath={.data.color} {.metadata.labels.team} {.metadata.annotations.note}")
		if got != "green a hello" {
			t.Errorf("configmap after edit/label/annotate = %q", got)
		}
	})

	t.Run("rejections", func(t *testing.T) {
		bad := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  foo: bar\n  containers:\n  - name: c\n    image: busybox\n"
		out, err := c.KubectlErr(bad, "apply", "-f", "-")
		if err == nil || !strings.Contains(out, `strict decoding error: unknown field "spec.foo"`) {
			t.Errorf("unknown field: err=%v out=%q", err, out)
		}
		out, err = c.KubectlErr("", "run", "Hello_Pod", "--image=busybox")
		if err == nil || !strings.Contains(out, `metadata.name: Invalid value: "Hello_Pod": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters`) {
			t.Errorf("bad name: err=%v out=%q", err, out)
		}
		c.Kubectl("create", "configmap", "rv", "--from-literal=a=1")
		stale := c.Kubectl("get", "configmap", "rv", "-o", "json")
		c.Kubectl("label", "configmap", "rv", "moved=yes")
		out, err = c.KubectlErr(strings.Replace(stale, `"a": "1"`, `"a": "2"`, 1), "replace", "-f", "-")
		if err == nil || !strings.Contains(out, `Operation cannot be fulfilled on configmaps "rv": the object has been modified; please apply your changes to the latest version and try again`) {
			t.Errorf("stale resourceVersion: err=%v out=%q", err, out)
		}
	})

	t.Run("get -w", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := c.Net.Command(ctx, "kubectl", "get", "configmaps", "-w", "--output-watch-events")
		cmd.Env = c.env()
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitLine(t, lines, "ADDED", "kube-root-ca.crt|cfg")
		c.Kubectl("create", "configmap", "watched", "--from-literal=a=1")
		waitLine(t, lines, "ADDED", "watched")
		c.Kubectl("label", "configmap", "watched", "x=y")
		waitLine(t, lines, "MODIFIED", "watched")
		c.Kubectl("delete", "configmap", "watched")
		waitLine(t, lines, "DELETED", "watched")
	})

	t.Run("create deployment", func(t *testing.T) {
		c.Kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2")
		if got := c.Kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation} {.spec.strategy.type}"); got != "2 1 RollingUpdate" {
			t.Errorf("deployment = %q", got)
		}
		c.Kubectl("scale", "deployment", "web", "--replicas=3")
		if got := c.Kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"); got != "3 2" {
			t.Errorf("after scale: replicas and generation = %q, want 3 2", got)
		}
	})
}

// waitLine waits for a line with the event type and a name matching one of
// the |-separated alternatives.
func waitLine(t *testing.T, lines <-chan string, typ, names string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl get -w ended before %s %s", typ, names)
			}
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != typ {
				continue
			}
			for _, n := range strings.Split(names, "|") {
				if f[1] == n {
					return
				}
			}
		case <-timeout:
			t.Fatalf("no %s %s from kubectl get -w after 30s", typ, names)
		}
	}
}

// apiHelper runs this test binary again inside the cluster's network
// namespace as a client-go program (see TestAPIHelper).
func apiHelper(t *testing.T, c *Cluster, ctx context.Context, mode string) (*exec.Cmd, io.Reader) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := c.Net.Command(ctx, self, "-test.run=^TestAPIHelper$", "-test.count=1")
	cmd.Env = append(c.env(), "BERTH_API_HELPER="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// TestAPIHelper is not a test: it is the client-go program the API tests
// run inside a cluster's namespace, selected by BERTH_API_HELPER.
func TestAPIHelper(t *testing.T) {
	mode := os.Getenv("BERTH_API_HELPER")
	if mode == "" {
		t.Skip("only run by the API tests")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cs := kubernetes.NewForConfigOrDie(cfg)
	switch mode {
	case "informer":
		runInformerHelper(cs)
	case "creates":
		runCreatesHelper(cs)
	}
}

// runInformerHelper prints every add, update (with a new resourceVersion)
// and delete of configmaps labelled e2e=informer, one per line, until killed.
func runInformerHelper(cs kubernetes.Interface) {
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", a...)
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "e2e=informer" }))
	inf := f.Core().V1().ConfigMaps().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { say("ADD %s %s", obj.(*corev1.ConfigMap).Name, obj.(*corev1.ConfigMap).Data["v"]) },
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.ConfigMap), obj.(*corev1.ConfigMap)
			if o.ResourceVersion != n.ResourceVersion {
				say("UPDATE %s %s", n.Name, n.Data["v"])
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			say("DELETE %s", obj.(*corev1.ConfigMap).Name)
		},
	})
	ctx := context.Background()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	say("SYNCED")
	select {}
}

// runCreatesHelper creates 200 configmaps from 20 goroutines and prints
// "CREATED name" for each 201 and "FAILED name code" for a definite refusal.
func runCreatesHelper(cs kubernetes.Interface) {
	var mu sync.Mutex
	names := make(chan int)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				name := fmt.Sprintf("crash-%03d", i)
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"e2e": "crash"}},
					Data: map[string]string{"i": fmt.Sprint(i)}}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
				cancel()
				mu.Lock()
				if err == nil {
					fmt.Printf("CREATED %s\n", name)
				} else if st, ok := err.(interface{ Status() metav1.Status }); ok {
					fmt.Printf("FAILED %s %d\n", name, st.Status().Code)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 200 {
		names <- i
	}
	close(names)
	wg.Wait()
	fmt.Println("DONE")
}

// TestAPIInformerAcrossRestart checks that a client-go shared informer sees
// adds, updates and deletes in order, and keeps seeing them after berth
// restarts (its watch resumes from the last resourceVersion it had).
func TestAPIInformerAcrossRestart(t *testing.T) {
	c := StartCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd, out := apiHelper(t, c, ctx, "informer")
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case l := <-lines:
				if l != w {
					t.Fatalf("informer said %q, want %q", l, w)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("informer said nothing for 60s, want %q", w)
			}
		}
	}
	cm := func(name, v string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels:\n    e2e: informer\ndata:\n  v: %q\n", name, v)
	}
	expect("SYNCED")
	c.KubectlIn(cm("a", "1"), "apply", "-f", "-")
	c.KubectlIn(cm("a", "2"), "apply", "-f", "-")
	c.KubectlIn(cm("b", "1"), "apply", "-f", "-")
	c.Kubectl("delete", "configmap", "a")
	expect("ADD a 1", "UPDATE a 2", "ADD b 1", "DELETE a")

	c.Stop()
	c.Start()
	c.KubectlIn(cm("b", "2"), "apply", "-f", "-")
	c.KubectlIn(cm("c", "1"), "apply", "-f", "-")
	c.Kubectl("delete", "configmap", "b")
	expect("UPDATE b 2", "ADD c 1", "DELETE b")
}

// TestAPICrashDuringCreates kills berth with SIGKILL while 200 creates are
// in flight: after a restart every create that got a 201 is there, intact,
// and no create that was refused is.
func TestAPICrashDuringCreates(t *testing.T) {
	c := StartCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd, out := apiHelper(t, c, ctx, "creates")
	created := map[string]bool{}
	refused := map[string]bool{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "CREATED":
			created[f[1]] = true
		case len(f) == 3 && f[0] == "FAILED":
			refused[f[1]] = true
		}
		if !killed && len(created) >= 60 {
			c.Kill()
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("all creates finished before the kill (%d created)", len(created))
	}
	c.Start()
	list := c.Kubectl("get", "configmaps", "-l", "e2e=crash", "-o", "json")
	var l corev1.ConfigMapList
	if err := json.Unmarshal([]byte(list), &l); err != nil {
		t.Fatal(err)
	}
	there := map[string]bool{}
	for _, cm := range l.Items {
		there[cm.Name] = true
		if cm.Data["i"] != strings.TrimLeft(strings.TrimPrefix(cm.Name, "crash-"), "0") && !(cm.Name == "crash-000" && cm.Data["i"] == "0") {
			t.Errorf("%s has data %v", cm.Name, cm.Data)
		}
		if refused[cm.Name] {
			t.Errorf("%s exists although its create was refused", cm.Name)
		}
	}
	for name := range created {
		if !there[name] {
			t.Errorf("%s got 201 but is gone after the restart", name)
		}
	}
	t.Logf("%d created before the kill, %d there after the restart", len(created), len(there))
}

// TestAPIAuthentication checks the three kinds of caller: anonymous (401),
// a node that joined with the token (what a kubelet needs, 403 for the
// rest) and the admin kubeconfig.
func TestAPIAuthentication(t *testing.T) {
	c := StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := c.Run(ctx, "", "curl", "-sk", "https://127.0.0.1:6443/api/v1/namespaces")
	if err != nil || !strings.Contains(out, `"code":401`) {
		t.Errorf("anonymous list: %v %s, want a 401 Status", err, out)
	}

	token, err := os.ReadFile(filepath.Join(c.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := c.Run(ctx, "", "curl", "-sk", "-X", "POST", "-H", "Authorization: Bearer "+strings.TrimSpace(string(token)),
		"-d", `{"nodeName":"joiner"}`, "https://127.0.0.1:6443/berth/v1/join")
	if err != nil {
		t.Fatal(err)
	}
	var jr struct{ CACert, ClientCert, ClientKey string }
	if err := json.Unmarshal([]byte(body), &jr); err != nil || jr.ClientCert == "" {
		t.Fatalf("join response %q: %v", body, err)
	}
	dir := t.TempDir()
	files := map[string]string{"ca.crt": jr.CACert, "node.crt": jr.ClientCert, "node.key": jr.ClientKey}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	asNode := func(args ...string) (string, error) {
		return c.KubectlErr("", append([]string{"--kubeconfig=/dev/null", "--server=https://127.0.0.1:6443",
			"--certificate-authority=" + filepath.Join(dir, "ca.crt"), "--client-certificate=" + filepath.Join(dir, "node.crt"),
			"--client-key=" + filepath.Join(dir, "node.key")}, args...)...)
	}
	if out, err := asNode("get", "pods", "-A"); err != nil {
		t.Errorf("node lists pods: %v %s", err, out)
	}
	if out, err := asNode("get", "configmap", "kube-root-ca.crt", "-n", "default", "--ignore-not-found"); err != nil {
		t.Errorf("node reads a configmap: %v %s", err, out)
	}
	out, err = asNode("create", "configmap", "x", "--from-literal=a=b")
	if err == nil || !strings.Contains(out, `User "system:node:joiner" cannot create resource "configmaps" in API group "" in the namespace "default"`) {
		t.Errorf("node creates a configmap: err=%v out=%q, want Forbidden", err, out)
	}
	out, err = asNode("delete", "namespace", "kube-public")
	if err == nil || !strings.Contains(out, "Forbidden") {
		t.Errorf("node deletes a namespace: err=%v out=%q, want Forbidden", err, out)
	}

	bad, _, _ := c.Run(ctx, "", "curl", "-sk", "-X", "POST", "-H", "Authorization: Bearer wrong", "-d", `{"nodeName":"x"}`,
		"https://127.0.0.1:6443/berth/v1/join")
	if !strings.Contains(bad, `"code":401`) {
		t.Errorf("join with a wrong token: %q, want 401", bad)
	}
}
