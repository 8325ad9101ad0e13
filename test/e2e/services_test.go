package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// externalIP stands in for the seed's 192.168.56.30: an address the test
// puts on the namespace's own veth, so nothing can leave the machine.
const externalIP = "172.20.1.30"

// helloApp is the seed's hello-svc (selector app: hello, 8200 -> 8000,
// externalIPs) in front of three busybox httpd replicas that answer
// "Hello Kubernetes!" and their hostname. The readiness probe fails while
// /tmp/notready exists, so a test can flip one pod to not ready.
const helloApp = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 3
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello-container
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && echo \"Hello Kubernetes! $(hostname)\" > /www/index.html && exec httpd -f -p 8000 -h /www"]
        ports: [{name: web, containerPort: 8000}]
        readinessProbe:
          exec: {command: ["sh", "-c", "test ! -e /tmp/notready"]}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: hello-svc}
spec:
  selector: {app: hello}
  ports: [{name: http, port: 8200, targetPort: 8000}]
  externalIPs: [` + externalIP + `]
---
apiVersion: v1
kind: Service
metadata: {name: hello-np}
spec:
  type: NodePort
  selector: {app: hello}
  ports: [{name: http, port: 8200, targetPort: web, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: hello-lb}
spec:
  type: LoadBalancer
  selector: {app: hello}
  ports: [{name: http, port: 8300, targetPort: web}]
`

// headlessApp is a headless Service with one pod that names itself under
// it (hostname/subdomain), for the pod's DNS record, and a ClusterIP
// Service in front of that pod alone, for hairpin traffic.
const headlessApp = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: web-vip}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8000}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, labels: {app: web}}
spec:
  hostname: web-0
  subdomain: web
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo web-0 > /www/index.html && exec httpd -f -p 8000 -h /www"]
`

func TestServices(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	mustNetns(t, c, "ip", "addr", "add", externalIP+"/32", "dev", "node0p")
	c.KubectlIn(helloApp, "apply", "-f", "-")
	c.KubectlIn(headlessApp, "apply", "-f", "-")
	waitReadyEndpoints(t, c, "default", "hello-svc", 3, 90*time.Second)
	clusterIP := strings.TrimSpace(c.Kubectl("get", "svc", "hello-svc", "-o", "jsonpath={.spec.clusterIP}"))
	pods := helloPods(t, c)
	client := pods[0]

	t.Run("externalIP, ClusterIP and NodePort answer", func(t *testing.T) {
		for _, url := range []string{
			"http://" + externalIP + ":8200/",
			"http://" + clusterIP + ":8200/",
			"http://" + NodeIP + ":30080/",
		} {
			out, err := c.HTTPGet(url)
			if err != nil || !strings.Contains(out, "Hello Kubernetes!") {
				t.Errorf("curl %s = %q, %v; want Hello Kubernetes!", url, out, err)
			}
		}
		out, err := inPod(c, "default", client.Name, "hello-container", "wget", "-qO-", "http://"+clusterIP+":8200/")
		if err != nil || !strings.Contains(out, "Hello Kubernetes!") {
			t.Errorf("wget ClusterIP from pod %s = %q, %v", client.Name, out, err)
		}
	})

	t.Run("LoadBalancer gets the node address", func(t *testing.T) {
		Eventually(t, 20*time.Second, func() error {
			ip := strings.TrimSpace(c.Kubectl("get", "svc", "hello-lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"))
			if ip != NodeIP {
				return fmt.Errorf("ingress ip %q, want %s", ip, NodeIP)
			}
			return nil
		})
		if out, err := c.HTTPGet("http://" + NodeIP + ":8300/"); err != nil || !strings.Contains(out, "Hello Kubernetes!") {
			t.Errorf("curl LoadBalancer IP = %q, %v", out, err)
		}
	})

	t.Run("300 requests reach all three replicas", func(t *testing.T) {
		hits := spread(t, c, "http://"+clusterIP+":8200/", 300)
		for _, p := range pods {
			if hits[p.Name] == 0 {
				t.Errorf("pod %s got none of 300 requests: %v", p.Name, hits)
			}
		}
	})

	t.Run("a pod reaches itself through its own service (hairpin)", func(t *testing.T) {
		// web-vip selects only web-0, so every request from web-0 comes back to it.
		waitReadyEndpoints(t, c, "default", "web-vip", 1, 60*time.Second)
		vip := strings.TrimSpace(c.Kubectl("get", "svc", "web-vip", "-o", "jsonpath={.spec.clusterIP}"))
		out, err := inPod(c, "default", "web-0", "c", "timeout", "5", "wget", "-qO-", "http://"+vip+"/")
		if err != nil || strings.TrimSpace(out) != "web-0" {
			t.Errorf("wget own service from web-0 = %q, %v; want web-0", out, err)
		}
	})

	t.Run("ClientIP session affinity sticks to one replica", func(t *testing.T) {
		c.KubectlIn(`apiVersion: v1
kind: Service
metadata: {name: hello-sticky}
spec:
  selector: {app: hello}
  sessionAffinity: ClientIP
  ports: [{port: 8200, targetPort: 8000}]
`, "apply", "-f", "-")
		waitReadyEndpoints(t, c, "default", "hello-sticky", 3, 30*time.Second)
		ip := strings.TrimSpace(c.Kubectl("get", "svc", "hello-sticky", "-o", "jsonpath={.spec.clusterIP}"))
		if hits := spread(t, c, "http://"+ip+":8200/", 30); len(hits) != 1 {
			t.Errorf("30 requests with ClientIP affinity reached %v, want one pod", hits)
		}
	})

	t.Run("cluster DNS from a pod", func(t *testing.T) {
		waitReadyEndpoints(t, c, "default", "web", 1, 60*time.Second)
		webIP := strings.TrimSpace(c.Kubectl("get", "pod", "web-0", "-o", "jsonpath={.status.podIP}"))
		// busybox's nslookup asks every search domain and exits 1 when any
		// of them is NXDOMAIN (as it does against CoreDNS), so the answers
		// are checked, not the exit code.
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"nslookup", "hello-svc"}, "Address: " + clusterIP},
			{[]string{"nslookup", "hello-svc.default.svc.cluster.local"}, "Address: " + clusterIP},
			{[]string{"nslookup", "web-0.web.default.svc.cluster.local"}, "Address: " + webIP},
			{[]string{"nslookup", "web.default.svc.cluster.local"}, "Address: " + webIP},
			{[]string{"nslookup", "-type=SRV", "_http._tcp.hello-svc.default.svc.cluster.local"}, "0 100 8200 hello-svc.default.svc.cluster.local"},
			{[]string{"nslookup", clusterIP}, "name = hello-svc.default.svc.cluster.local"},
		} {
			out, err := inPod(c, "default", client.Name, "hello-container", tc.args...)
			if !strings.Contains(out, tc.want) {
				t.Errorf("%v = %v\n%s\nwant %q", tc.args, err, out, tc.want)
			}
		}
		// busybox's nslookup applies search domains only to dotless names
		// (as with CoreDNS), so `hello-svc.default` is checked through the
		// libc resolver, which honours the search path and ndots:5.
		for _, name := range []string{"hello-svc", "hello-svc.default", "hello-svc.default.svc.cluster.local"} {
			out, err := inPod(c, "default", client.Name, "hello-container", "wget", "-qO-", "http://"+name+":8200/")
			if err != nil || !strings.Contains(out, "Hello Kubernetes!") {
				t.Errorf("wget http://%s:8200/ = %q, %v", name, out, err)
			}
		}
		// kube-dns's metrics port serves the DNS server's Prometheus series.
		if out, err := c.HTTPGet("http://10.96.0.10:9153/metrics"); err != nil || !strings.Contains(out, `coredns_dns_requests_total{proto="udp",type="A"}`) {
			t.Errorf("kube-dns metrics = %v\n%.300s", err, out)
		}
	})

	t.Run("a not-ready pod stops receiving traffic", func(t *testing.T) {
		victim := pods[1]
		if _, err := inPod(c, "default", victim.Name, "hello-container", "touch", "/tmp/notready"); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 30*time.Second, func() error {
			if podReady(getPod(t, c, victim.Name)) {
				return errors.New("kubelet still reports Ready")
			}
			return nil
		})
		// From the Ready condition turning false, endpoints and rules follow
		// within 2 s (the acceptance bound).
		Eventually(t, 2*time.Second, func() error {
			hits := spread(t, c, "http://"+clusterIP+":8200/", 30)
			if hits[victim.Name] > 0 {
				return fmt.Errorf("not-ready %s still got %d of 30", victim.Name, hits[victim.Name])
			}
			return nil
		})
		if _, err := inPod(c, "default", victim.Name, "hello-container", "rm", "/tmp/notready"); err != nil {
			t.Fatal(err)
		}
		waitReadyEndpoints(t, c, "default", "hello-svc", 3, 30*time.Second)
	})

	t.Run("duplicate nodePort and clusterIP are refused", func(t *testing.T) {
		out, err := c.KubectlErr(`apiVersion: v1
kind: Service
metadata: {name: dup-np}
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
`, "apply", "-f", "-")
		if err == nil || !strings.Contains(out, "provided port is already allocated") {
			t.Errorf("duplicate nodePort: %v %q", err, out)
		}
		out, err = c.KubectlErr(fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: dup-ip}
spec:
  clusterIP: %s
  ports: [{port: 80}]
`, clusterIP), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, "provided IP is already allocated") {
			t.Errorf("duplicate clusterIP: %v %q", err, out)
		}
	})

	t.Run("no endpoints: connection refused at once", func(t *testing.T) {
		c.KubectlIn(`apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 8200, targetPort: 8000}]
`, "apply", "-f", "-")
		ip := strings.TrimSpace(c.Kubectl("get", "svc", "nobody", "-o", "jsonpath={.spec.clusterIP}"))
		// curl exits 7 on "connection refused", 28 on a timeout.
		Eventually(t, 10*time.Second, func() error { return refused(c, "http://"+ip+":8200/") })
		c.Kubectl("scale", "deployment", "hello", "--replicas=0")
		Eventually(t, 60*time.Second, func() error { return refused(c, "http://"+clusterIP+":8200/") })
		if err := refused(c, "http://"+externalIP+":8200/"); err != nil {
			t.Error(err)
		}
		if err := refused(c, "http://"+NodeIP+":30080/"); err != nil {
			t.Error(err)
		}
	})
}

// TestNetworkPolicy: the seed says pods of different namespaces cannot
// reach each other; in Kubernetes one default-deny policy does that.
func TestNetworkPolicy(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	for _, ns := range []string{"a", "b"} {
		c.Kubectl("create", "namespace", ns)
		c.Kubectl("-n", ns, "run", "p", "--image=busybox", "--image-pull-policy=IfNotPresent", "--labels=app=p", "--",
			"sh", "-c", "mkdir -p /www && echo hi-"+ns+" > /www/index.html && exec httpd -f -p 8000 -h /www")
	}
	var serverIP string
	Eventually(t, 90*time.Second, func() error {
		for _, ns := range []string{"a", "b"} {
			out, err := c.KubectlErr("", "-n", ns, "get", "pod", "p", "-o", "jsonpath={.status.phase} {.status.podIP}")
			if err != nil || !strings.HasPrefix(out, "Running ") {
				return fmt.Errorf("pod %s/p: %q %v", ns, out, err)
			}
			if ns == "a" {
				serverIP = strings.Fields(out)[1]
			}
		}
		return nil
	})
	fetch := func() (string, error) {
		return inPod(c, "b", "p", "p", "timeout", "3", "wget", "-qO-", "http://"+serverIP+":8000/")
	}
	Eventually(t, 10*time.Second, func() error {
		out, err := fetch()
		if err != nil || !strings.Contains(out, "hi-a") {
			return fmt.Errorf("b -> a before any policy: %q %v", out, err)
		}
		return nil
	})
	c.KubectlIn(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`, "apply", "-f", "-")
	Eventually(t, 10*time.Second, func() error {
		if out, err := fetch(); err == nil {
			return fmt.Errorf("b -> a still allowed under default deny: %q", out)
		}
		return nil
	})
	c.KubectlIn(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-b, namespace: a}
spec:
  podSelector: {matchLabels: {app: p}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}]
    ports: [{port: 8000}]
`, "apply", "-f", "-")
	Eventually(t, 10*time.Second, func() error {
		out, err := fetch()
		if err != nil || !strings.Contains(out, "hi-a") {
			return fmt.Errorf("b -> a with allow-b: %q %v", out, err)
		}
		return nil
	})
	// Egress isolation on the client side blocks it again.
	c.KubectlIn(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: b}
spec:
  podSelector: {}
  policyTypes: [Egress]
`, "apply", "-f", "-")
	Eventually(t, 10*time.Second, func() error {
		if out, err := fetch(); err == nil {
			return fmt.Errorf("b -> a still allowed under egress deny in b: %q", out)
		}
		return nil
	})
}

// inPod runs a command in a pod's container. kubectl exec needs the
// streaming server; the pod's container is also an engine container, so
// the real docker CLI reaches it (name k8s_<container>_<pod>_<ns>_...).
func inPod(c *Cluster, ns, pod, container string, args ...string) (string, error) {
	out, err := c.DockerErr("", "ps", "-q", "--filter", "name=k8s_"+container+"_"+pod+"_"+ns+"_")
	id := strings.TrimSpace(out)
	if err != nil || id == "" || strings.Contains(id, "\n") {
		return out, fmt.Errorf("container %s of pod %s/%s: %q %v", container, ns, pod, out, err)
	}
	return c.DockerErr("", append([]string{"exec", id}, args...)...)
}

func mustNetns(t *testing.T, c *Cluster, name string, args ...string) {
	t.Helper()
	if out, err := c.Net.Command(context.Background(), name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
}

func helloPods(t *testing.T, c *Cluster) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := json.Unmarshal([]byte(c.Kubectl("get", "pods", "-l", "app=hello", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("%d hello pods, want 3", len(list.Items))
	}
	return list.Items
}

func podReady(p *corev1.Pod) bool {
	for _, cd := range p.Status.Conditions {
		if cd.Type == corev1.PodReady {
			return cd.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReadyEndpoints waits until the Service's EndpointSlices list n ready
// endpoints.
func waitReadyEndpoints(t *testing.T, c *Cluster, ns, svc string, n int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		out, err := c.KubectlErr("", "-n", ns, "get", "endpointslices", "-l", discoveryv1.LabelServiceName+"="+svc, "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var list discoveryv1.EndpointSliceList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		ready := 0
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready != n {
			return fmt.Errorf("%d ready endpoints for %s/%s, want %d", ready, ns, svc, n)
		}
		return nil
	})
}

// spread sends n requests from the node and counts answers per pod name
// (each replica answers with its hostname, which is the pod name).
func spread(t *testing.T, c *Cluster, url string, n int) map[string]int {
	t.Helper()
	// One curl for n URLs; "Connection: close" makes each request a new
	// connection, so each is balanced on its own.
	args := []string{"-sS", "--noproxy", "*", "--max-time", "5", "-H", "Connection: close"}
	for range n {
		args = append(args, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	so, se, err := c.Run(ctx, "", "curl", args...)
	if err != nil {
		t.Fatalf("curl x%d %s: %v %s", n, url, err, se)
	}
	hits := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(so), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			hits[f[2]]++
		}
	}
	return hits
}

// refused reports nil when connecting to url is refused at once (curl exit
// code 7), not timed out.
func refused(c *Cluster, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	so, se, err := c.Run(ctx, "", "curl", "-sS", "--noproxy", "*", "--max-time", "5", url)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 7 {
		return nil
	}
	return fmt.Errorf("curl %s: %v (want exit 7, connection refused): %s%s", url, err, so, se)
}

// TestProxyRestart: rules stay while berth is down (traffic keeps flowing
// through the kernel), and a restarted proxy replaces whatever the table
// holds, so rules left by an earlier run cannot linger.
func TestProxyRestart(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	c.KubectlIn(headlessApp, "apply", "-f", "-")
	waitReadyEndpoints(t, c, "default", "web-vip", 1, 90*time.Second)
	vip := strings.TrimSpace(c.Kubectl("get", "svc", "web-vip", "-o", "jsonpath={.spec.clusterIP}"))
	table := strings.TrimSpace(netnsOut(t, c, "sh", "-c", "nft list tables | awk '/berth-svc-/ {print $3}'"))
	if table == "" {
		t.Fatal("no berth-svc table in the cluster's namespace")
	}
	c.Stop()
	if out, err := c.HTTPGet("http://" + vip + "/"); err != nil || strings.TrimSpace(out) != "web-0" {
		t.Errorf("ClusterIP while berth is down = %q, %v; want web-0 (pods and rules outlive berth)", out, err)
	}
	// What a crashed older run could have left behind.
	mustNetns(t, c, "nft", "add", "chain", "ip", table, "svc-default/leftover/tcp/1")
	c.Start()
	Eventually(t, 30*time.Second, func() error {
		if out := netnsOut(t, c, "nft", "list", "table", "ip", table); strings.Contains(out, "leftover") {
			return errors.New("stale chain still in the table")
		}
		return nil
	})
	Eventually(t, 30*time.Second, func() error {
		out, err := c.HTTPGet("http://" + vip + "/")
		if err != nil || strings.TrimSpace(out) != "web-0" {
			return fmt.Errorf("ClusterIP after restart = %q, %v", out, err)
		}
		return nil
	})
}

func netnsOut(t *testing.T, c *Cluster, name string, args ...string) string {
	t.Helper()
	out, err := c.Net.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
	return string(out)
}
