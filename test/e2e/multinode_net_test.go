package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// crossNodeManifest puts one busybox httpd pod on each node (spec.nodeName,
// so the test does not depend on scheduling) and a Service in front of the
// one on node2. httpd -vv logs each client's address, which shows whether
// a request kept its pod source address.
const crossNodeManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web1
  labels: {app: xweb1}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo hello from web1 > /www/index.html && exec httpd -f -vv -p 8080 -h /www"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web2
  labels: {app: xweb2}
spec:
  nodeName: node2
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo hello from web2 > /www/index.html && exec httpd -f -vv -p 8080 -h /www"]
---
apiVersion: v1
kind: Service
metadata:
  name: xweb2
spec:
  selector: {app: xweb2}
  ports:
  - {port: 80, targetPort: 8080}
`

// TestMultiNodePodNetwork checks host-gw routing between two nodes: a pod
// on node1 reaches a pod on node2 by pod IP and the other way round (node1
// reaches node2 over the connected link, node2 reaches node1's NodeIP only
// through a /32 via the link), without masquerade, and a Service whose only
// endpoint is on node2 answers a pod on node1 at its ClusterIP. When node2
// goes away, node1 drops the route to its pod CIDR.
func TestMultiNodePodNetwork(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	a := c.AddAgent("node2")
	_, file, _, _ := runtime.Caller(0)
	c.Docker("-H", a.DockerHost(), "load", "-i", filepath.Join(filepath.Dir(file), "..", "..", "_out", "images", "busybox.tar"))

	c.KubectlIn(crossNodeManifest, "apply", "-f", "-")
	ips := map[string]string{}
	Eventually(t, 60*time.Second, func() error {
		for _, pod := range []string{"web1", "web2"} {
			out := c.Kubectl("get", "pod", pod, "-o", "jsonpath={.status.phase} {.status.podIP}")
			phase, ip, _ := strings.Cut(out, " ")
			if phase != "Running" || ip == "" {
				return fmt.Errorf("pod %s: phase and IP %q", pod, out)
			}
			ips[pod] = ip
		}
		return nil
	})
	for pod, node := range map[string]string{"web1": "node1", "web2": "node2"} {
		cidr := c.Kubectl("get", "node", node, "-o", "jsonpath={.spec.podCIDR}")
		p, err := netip.ParsePrefix(cidr)
		if err != nil || !p.Contains(netip.MustParseAddr(ips[pod])) {
			t.Fatalf("pod %s IP %s is not in %s's pod CIDR %q (%v)", pod, ips[pod], node, cidr, err)
		}
	}

	fetch := func(from, url string) (string, error) {
		return c.KubectlErr("", "exec", from, "--", "timeout", "5", "wget", "-qO-", url)
	}
	for _, tc := range []struct{ from, to string }{{"web1", "web2"}, {"web2", "web1"}} {
		url := "http://" + ips[tc.to] + ":8080/"
		Eventually(t, 40*time.Second, func() error {
			if out, err := fetch(tc.from, url); err != nil || strings.TrimSpace(out) != "hello from "+tc.to {
				return fmt.Errorf("%s -> %s (%s) = %q, %v", tc.from, tc.to, url, out, err)
			}
			return nil
		})
		// No masquerade between pods: the server saw the client's pod IP
		// (httpd logs "[::ffff:10.244.0.2]:54406: url:/").
		if logs := c.Kubectl("logs", tc.to); !strings.Contains(logs, ips[tc.from]+"]:") {
			t.Errorf("%s's httpd log does not name client %s (%s), was it masqueraded?\n%s", tc.to, tc.from, ips[tc.from], logs)
		}
	}

	clusterIP := c.Kubectl("get", "service", "xweb2", "-o", "jsonpath={.spec.clusterIP}")
	Eventually(t, 30*time.Second, func() error {
		if out, err := fetch("web1", "http://"+clusterIP+"/"); err != nil || strings.TrimSpace(out) != "hello from web2" {
			return fmt.Errorf("web1 -> service xweb2 (%s, endpoint on node2) = %q, %v", clusterIP, out, err)
		}
		return nil
	})

	// A node that is gone loses its route on the others.
	node2CIDR := c.Kubectl("get", "node", "node2", "-o", "jsonpath={.spec.podCIDR}")
	if routes := berthRoutes(t, c); !strings.Contains(routes, node2CIDR+" via "+a.NodeIP) {
		t.Fatalf("node1's routes = %q, want %s via %s", routes, node2CIDR, a.NodeIP)
	}
	a.Kill()
	c.Kubectl("delete", "node", "node2")
	Eventually(t, 30*time.Second, func() error {
		if routes := berthRoutes(t, c); strings.Contains(routes, node2CIDR) {
			return fmt.Errorf("node1 still routes the deleted node's pod CIDR: %q", routes)
		}
		return nil
	})
}

// berthRoutes lists the routes berth's host-gw controller installed in the
// cluster's namespace, one "DST via GW" per line.
func berthRoutes(t *testing.T, c *Cluster) string {
	t.Helper()
	out, err := c.Net.Command(context.Background(), "ip", "-j", "route", "show", "proto", "150").Output()
	if err != nil {
		t.Fatalf("ip route show: %v", err)
	}
	var routes []struct{ Dst, Gateway string }
	if err := json.Unmarshal(out, &routes); err != nil {
		t.Fatalf("parse %q: %v", out, err)
	}
	var lines []string
	for _, r := range routes {
		lines = append(lines, r.Dst+" via "+r.Gateway)
	}
	return strings.Join(lines, "\n")
}
