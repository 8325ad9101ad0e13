package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// healerManifest is a Deployment whose pods leave an unreachable node after
// 2 s instead of upstream's default 300 s (DefaultTolerationSeconds), so the
// test sees auto healing without waiting five minutes.
const healerManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: healer
spec:
  replicas: 2
  selector:
    matchLabels: {app: healer}
  template:
    metadata:
      labels: {app: healer}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers:
      - name: app
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "echo started on $(hostname); exec sleep 3600"]
`

type podList struct {
	Items []struct {
		Metadata struct {
			Name              string  `json:"name"`
			DeletionTimestamp *string `json:"deletionTimestamp"`
		} `json:"metadata"`
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	} `json:"items"`
}

// runningOn returns the names of the live Running pods matching selector, by node.
func runningOn(t *testing.T, c *Cluster, selector string) map[string][]string {
	t.Helper()
	var l podList
	if err := json.Unmarshal([]byte(c.Kubectl("get", "pods", "-l", selector, "-o", "json")), &l); err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, p := range l.Items {
		if p.Status.Phase == "Running" && p.Metadata.DeletionTimestamp == nil {
			by[p.Spec.NodeName] = append(by[p.Spec.NodeName], p.Metadata.Name)
		}
	}
	return by
}

// TestMultiNodeAutoHealing joins a second node from a namespace of its own,
// runs a Deployment's pods there (logs come back through the API server
// from that node's agent), then kills the agent as a crashed machine would
// stop: the node turns NotReady, its pods are evicted and the Deployment's
// pods run again on the node that is left.
func TestMultiNodeAutoHealing(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	a := c.AddAgent("node2")
	_, file, _, _ := runtime.Caller(0)
	busybox := filepath.Join(filepath.Dir(file), "..", "..", "_out", "images", "busybox.tar")
	c.Docker("-H", a.DockerHost(), "load", "-i", busybox)

	nodes := c.Kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}")
	if got := strings.Fields(nodes); len(got) != 2 {
		t.Fatalf("nodes = %q, want node1 and node2", nodes)
	}

	// Keep the first pods off node1 so they land on the new node.
	c.Kubectl("cordon", "node1")
	c.KubectlIn(healerManifest, "apply", "-f", "-")
	Eventually(t, 60*time.Second, func() error {
		if by := runningOn(t, c, "app=healer"); len(by["node2"]) != 2 {
			return fmt.Errorf("running pods by node: %v", by)
		}
		return nil
	})
	pod := runningOn(t, c, "app=healer")["node2"][0]
	Eventually(t, 20*time.Second, func() error {
		out, err := c.KubectlErr("", "logs", pod)
		if err != nil || !strings.Contains(out, "started on "+pod) {
			return fmt.Errorf("kubectl logs %s from node2 = %q, %v", pod, out, err)
		}
		return nil
	})
	c.Kubectl("uncordon", "node1")

	a.Kill()
	// The node lifecycle controller's grace period is 40 s, then 2 s of toleration.
	Eventually(t, 120*time.Second, func() error {
		ready := c.Kubectl("get", "node", "node2", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		by := runningOn(t, c, "app=healer")
		if ready == "True" || len(by["node1"]) != 2 {
			return fmt.Errorf("node2 Ready=%s, running pods by node: %v", ready, by)
		}
		return nil
	})
	taints := c.Kubectl("get", "node", "node2", "-o", "jsonpath={.spec.taints[*].key}")
	if !strings.Contains(taints, "node.kubernetes.io/unreachable") {
		t.Errorf("taints of the dead node = %q, want node.kubernetes.io/unreachable", taints)
	}
}
