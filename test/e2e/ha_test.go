package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haServer is one `berth server` of a highly available control plane, in a
// namespace of its own whose eth0 sits on the test's bridge.
type haServer struct {
	proc
	DataDir string
	IP      string
	extra   []string // cluster flags
}

// newHAServer makes namespace number i on hub's bridge br0 with address
// 172.22.0.i; the servers reach each other there and nowhere else.
func newHAServer(t *testing.T, hub *Netns, i int) *haServer {
	t.Helper()
	n := newBareNetns(t)
	s := &haServer{DataDir: t.TempDir(), IP: fmt.Sprintf("172.22.0.%d", i)}
	port := fmt.Sprintf("srv%d", i)
	mustRun(t, "ip", "-n", hub.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", n.Name)
	mustRun(t, "ip", "-n", hub.Name, "link", "set", port, "master", "br0", "up")
	mustRun(t, "ip", "-n", n.Name, "addr", "add", s.IP+"/24", "dev", "eth0")
	mustRun(t, "ip", "-n", n.Name, "link", "set", "eth0", "up")
	s.proc = proc{t: t, net: n, home: t.TempDir(), args: func() []string {
		return append([]string{"server", "--data-dir", s.DataDir, "--advertise-address", s.IP}, s.extra...)
	}}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.dumpLog()
		}
		s.reset(s.DataDir)
		cleanupMounts(t, s.DataDir)
	})
	return s
}

// startAndWait starts the server and waits until its API answers /readyz.
func (s *haServer) startAndWait(t *testing.T) {
	t.Helper()
	s.start()
	Eventually(t, 2*time.Minute, func() error {
		if s.exited() {
			s.dumpLog()
			t.Fatalf("berth server %s exited before it was ready", s.IP)
		}
		if _, err := os.Stat(filepath.Join(s.DataDir, "kubeconfig")); err != nil {
			return err
		}
		out, err := s.net.Command(context.Background(), "curl", "-sk", "--max-time", "2", "https://127.0.0.1:6443/readyz").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			return fmt.Errorf("readyz on %s: %v %s", s.IP, err, out)
		}
		return nil
	})
}

// kubectl runs kubectl in the server's namespace with the server's own
// admin kubeconfig (its loopback address, the cluster's shared CA).
func (s *haServer) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.net.Command(ctx, "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(s.DataDir, "kubeconfig"), "HOME="+s.home)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestHAServersShareEtcd runs three servers on one embedded etcd cluster:
// the first with --cluster-init, two joining with --server and the token.
// A write through one server is read through another, and after the first
// server is killed the other two keep serving and take over the
// controller-manager Lease; restarted servers rejoin as the same members.
func TestHAServersShareEtcd(t *testing.T) {
	Require(t)
	hub := newBareNetns(t)
	mustRun(t, "ip", "-n", hub.Name, "link", "add", "br0", "type", "bridge")
	mustRun(t, "ip", "-n", hub.Name, "link", "set", "br0", "up")
	s1, s2, s3 := newHAServer(t, hub, 1), newHAServer(t, hub, 2), newHAServer(t, hub, 3)

	s1.extra = []string{"--cluster-init"}
	s1.startAndWait(t)
	token, err := os.ReadFile(filepath.Join(s1.DataDir, "token"))
	if err != nil {
		t.Fatalf("read join token: %v", err)
	}
	tok := strings.TrimSpace(string(token))
	// Joiners go one at a time: etcd refuses a second new member while the
	// first hasn't started (it would risk quorum).
	for _, s := range []*haServer{s2, s3} {
		s.extra = []string{"--server", "https://" + s1.IP + ":6443", "--token", tok}
		s.startAndWait(t)
	}

	for _, s := range []*haServer{s2, s3} {
		got, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "ca.crt"))
		want, _ := os.ReadFile(filepath.Join(s1.DataDir, "tls", "ca.crt"))
		if err != nil || string(got) != string(want) {
			t.Fatalf("server %s has another CA than the first server (err %v)", s.IP, err)
		}
	}

	members := func(s *haServer) ([]map[string]any, error) {
		out, err := s.net.Command(context.Background(), "curl", "-sk", "--max-time", "5", "-H", "Authorization: Bearer "+tok,
			"https://"+s.IP+":6443/berth/v1/cluster/members").Output()
		if err != nil {
			return nil, fmt.Errorf("members from %s: %v", s.IP, err)
		}
		var ms []map[string]any
		if err := json.Unmarshal(out, &ms); err != nil {
			return nil, fmt.Errorf("members from %s: %v: %s", s.IP, err, out)
		}
		return ms, nil
	}
	Eventually(t, 30*time.Second, func() error {
		ms, err := members(s3)
		if err != nil {
			return err
		}
		var started []string
		for _, m := range ms {
			if name, _ := m["name"].(string); name != "" {
				started = append(started, name)
			}
		}
		if len(ms) != 3 || len(started) != 3 {
			return fmt.Errorf("want 3 started etcd members, got %v", ms)
		}
		return nil
	})
	if out, err := members(s1); err == nil {
		t.Logf("etcd members: %v", out)
	}

	// Agents may name any server: this one joins through server 2 and
	// server 3 sees its node.
	agentNet := newBareNetns(t)
	mustRun(t, "ip", "-n", hub.Name, "link", "add", "agent1", "type", "veth", "peer", "name", "eth0", "netns", agentNet.Name)
	mustRun(t, "ip", "-n", hub.Name, "link", "set", "agent1", "master", "br0", "up")
	mustRun(t, "ip", "-n", agentNet.Name, "addr", "add", "172.22.0.10/24", "dev", "eth0")
	mustRun(t, "ip", "-n", agentNet.Name, "link", "set", "eth0", "up")
	agentDir := t.TempDir()
	agent := &proc{t: t, net: agentNet, home: t.TempDir(), args: func() []string {
		return []string{"agent", "--server", "https://" + s2.IP + ":6443", "--token", tok,
			"--data-dir", agentDir, "--node-name", "ha-node", "--node-ip", "172.22.0.10"}
	}}
	agent.start()
	t.Cleanup(func() {
		agent.Stop()
		if t.Failed() {
			agent.dumpLog()
		}
		agent.reset(agentDir)
		cleanupMounts(t, agentDir)
	})
	Eventually(t, time.Minute, func() error {
		if agent.exited() {
			t.Fatal("berth agent exited")
		}
		out, err := s3.kubectl("get", "node", "ha-node", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil || out != "True" {
			return fmt.Errorf("node ha-node Ready: %v %q", err, out)
		}
		return nil
	})

	// The kubernetes Service's endpoints list every live server.
	kubeEndpoints := func(s *haServer) (string, error) {
		return s.kubectl("get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
	}
	Eventually(t, 30*time.Second, func() error {
		out, err := kubeEndpoints(s3)
		if want := strings.Join([]string{s1.IP, s2.IP, s3.IP}, " "); err != nil || out != want {
			return fmt.Errorf("kubernetes endpoints = %q (%v), want %q", out, err, want)
		}
		return nil
	})

	if out, err := s2.kubectl("create", "configmap", "ha-before", "--from-literal=k=written-on-2"); err != nil {
		t.Fatalf("create configmap on server 2: %v: %s", err, out)
	}
	Eventually(t, 10*time.Second, func() error {
		out, err := s3.kubectl("get", "configmap", "ha-before", "-o", "jsonpath={.data.k}")
		if err != nil || out != "written-on-2" {
			return fmt.Errorf("configmap on server 3: %v %q", err, out)
		}
		return nil
	})

	leaseHolder := func(s *haServer) (string, error) {
		return s.kubectl("get", "lease", "-n", "kube-system", "berth-controller-manager", "-o", "jsonpath={.spec.holderIdentity}")
	}
	var before string
	Eventually(t, 30*time.Second, func() error {
		var err error
		if before, err = leaseHolder(s2); err != nil || before == "" {
			return fmt.Errorf("controller-manager lease holder: %v %q", err, before)
		}
		return nil
	})
	t.Logf("controller-manager lease held by %s", before)

	// The holder identity is hostname_pid, and nsenter execs berth, so the
	// PID we started is the one in the Lease.
	s1Identity := fmt.Sprintf("_%d", s1.cmd.Process.Pid)
	if !strings.HasSuffix(before, s1Identity) {
		t.Logf("the Lease is not held by server 1 (%s): its move can't be observed", before)
	}
	s1.Kill()

	Eventually(t, time.Minute, func() error {
		if out, err := s2.kubectl("create", "configmap", "ha-after", "--from-literal=k=after-kill"); err != nil && !strings.Contains(out, "AlreadyExists") {
			return fmt.Errorf("create configmap on server 2 after the kill: %v: %s", err, out)
		}
		out, err := s3.kubectl("get", "configmap", "ha-after", "-o", "jsonpath={.data.k}")
		if err != nil || out != "after-kill" {
			return fmt.Errorf("configmap on server 3 after the kill: %v %q", err, out)
		}
		return nil
	})
	if out, err := s3.kubectl("get", "configmap", "ha-before", "-o", "jsonpath={.data.k}"); err != nil || out != "written-on-2" {
		t.Fatalf("configmap written before the kill, read on server 3: %v %q", err, out)
	}
	// The killed server's address leaves the kubernetes endpoints once its Lease is stale.
	Eventually(t, time.Minute, func() error {
		out, err := kubeEndpoints(s3)
		if want := s2.IP + " " + s3.IP; err != nil || out != want {
			return fmt.Errorf("kubernetes endpoints = %q (%v), want %q", out, err, want)
		}
		return nil
	})
	// Once server 1's term runs out, a surviving server holds the Lease.
	Eventually(t, 2*time.Minute, func() error {
		after, err := leaseHolder(s3)
		if err != nil || after == "" {
			return fmt.Errorf("controller-manager lease holder: %v %q", err, after)
		}
		if strings.HasSuffix(after, s1Identity) {
			return fmt.Errorf("lease still held by the killed server's %q", after)
		}
		t.Logf("controller-manager lease now held by %s", after)
		return nil
	})
	for _, s := range []*haServer{s2, s3} {
		if s.exited() {
			t.Fatalf("server %s exited after the first server was killed", s.IP)
		}
	}

	// Restarts with the same data dir and flags come back as the same
	// members (the flags don't start a new cluster or join again) and see
	// what was written while they were down.
	s1.startAndWait(t)
	s2.Stop()
	s2.startAndWait(t)
	for _, s := range []*haServer{s1, s2} {
		Eventually(t, 30*time.Second, func() error {
			out, err := s.kubectl("get", "configmap", "ha-after", "-o", "jsonpath={.data.k}")
			if err != nil || out != "after-kill" {
				return fmt.Errorf("configmap on restarted server %s: %v %q", s.IP, err, out)
			}
			return nil
		})
	}
	ms, err := members(s1)
	if err != nil || len(ms) != 3 {
		t.Fatalf("etcd members after the restarts: %v %v", ms, err)
	}

	// A server gone for good is removed by name; the other two go on.
	s3.Stop()
	var name3 string
	for _, m := range ms {
		if urls, _ := m["peerURLs"].([]any); len(urls) == 1 && urls[0] == "https://"+s3.IP+":2380" {
			name3, _ = m["name"].(string)
		}
	}
	out, err := s1.net.Command(context.Background(), "curl", "-sk", "--max-time", "20", "-X", "DELETE", "-H", "Authorization: Bearer "+tok,
		"https://"+s1.IP+":6443/berth/v1/cluster/members?name="+name3).CombinedOutput()
	if err != nil || !strings.Contains(string(out), name3) {
		t.Fatalf("remove member %q: %v %s", name3, err, out)
	}
	if ms, err := members(s2); err != nil || len(ms) != 2 {
		t.Fatalf("etcd members after removing server 3: %v %v", ms, err)
	}
	if out, err := s1.kubectl("create", "configmap", "ha-two", "--from-literal=k=v"); err != nil {
		t.Fatalf("write with two members left: %v: %s", err, out)
	}
}
