// Package e2e drives whole berth clusters with the real kubectl and docker
// CLIs. Every cluster runs `berth up` in a network namespace of its own that
// has no route out (shared/DESIGN.md safety rule), entered with
// `nsenter --net` only, so mounts and cgroups stay the host's
// (shared/MACHINE-NOTES.md item 13).
//
// The tests run only as root with BERTH_E2E=1 (`make test` sets it).
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NodeIP is the address each test namespace gives its node, on a veth pair
// that lives wholly inside the namespace (this kernel has no dummy links).
const NodeIP = "172.20.0.2"

var (
	buildOnce sync.Once
	berthBin  string
	buildErr  error
)

// Binary returns the berth binary under test: $BERTH_BIN, or one built once
// per test process from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("BERTH_BIN"); p != "" {
			berthBin = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		// A private copy per test process: several test runs may share this checkout.
		dir, err := os.MkdirTemp("", "berth-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		berthBin = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", berthBin, "./cmd/berth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return berthBin
}

// Require skips the test unless whole-cluster tests are enabled.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("e2e tests need root")
	}
	if os.Getenv("BERTH_E2E") != "1" {
		t.Skip("set BERTH_E2E=1 to run whole-cluster tests (make test does)")
	}
}

// Netns is a network namespace made by a test, with lo up and a veth pair
// carrying NodeIP. It has no route out of the machine.
type Netns struct {
	Name string
	Path string
}

// NewNetns creates a fresh namespace with NodeIP on a veth pair inside it,
// and deletes it when the test ends.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	n := newBareNetns(t)
	mustRun(t, "ip", "-n", n.Name, "link", "add", "node0", "type", "veth", "peer", "name", "node0p")
	mustRun(t, "ip", "-n", n.Name, "addr", "add", NodeIP+"/24", "dev", "node0")
	mustRun(t, "ip", "-n", n.Name, "link", "set", "node0", "up")
	mustRun(t, "ip", "-n", n.Name, "link", "set", "node0p", "up")
	return n
}

// newBareNetns creates a namespace with only lo, up.
func newBareNetns(t testing.TB) *Netns {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	n := &Netns{Name: "berth-e2e-" + hex.EncodeToString(b)}
	n.Path = "/run/netns/" + n.Name
	mustRun(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v %s", n.Name, err, out)
		}
	})
	mustRun(t, "ip", "-n", n.Name, "link", "set", "lo", "up")
	return n
}

// Command returns cmd to run inside the namespace (network only).
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.Path, "--", name}, args...)...)
}

// proc is one berth process (up or agent) run in a namespace, logging to
// HOME/berth.log; it can be stopped, killed and started again.
type proc struct {
	t    testing.TB
	net  *Netns
	home string
	args func() []string // berth's arguments, read at each start

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(p.home, "berth.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + p.net.Path, "--", Binary(p.t)}, p.args()...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start berth: %v", err)
	}
	p.cmd, p.log, p.done = cmd, logf, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits (SIGKILL after 20 s).
func (p *proc) Stop() { p.signal(syscall.SIGTERM, 20*time.Second) }

// Kill sends SIGKILL, as a crash would end it.
func (p *proc) Kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

func (p *proc) signal(sig syscall.Signal, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	// nsenter execs berth, so the PID we started is berth itself.
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
	p.log.Close()
}

func (p *proc) dumpLog() {
	b, err := os.ReadFile(filepath.Join(p.home, "berth.log"))
	if err != nil {
		return
	}
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	p.t.Logf("berth log (tail):\n%s", b)
}

// reset runs `berth reset`, which ends the containers, mounts, cgroups,
// network devices and nftables tables that berth made for dataDir
// (containers outlive berth on purpose, so stopping berth is not enough).
func (p *proc) reset(dataDir string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := p.net.Command(ctx, Binary(p.t), "reset", "--data-dir", dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Errorf("berth reset: %v\n%s", err, out)
	}
}

// Cluster is one `berth up` in its own namespace and data dir.
type Cluster struct {
	proc
	Net     *Netns
	DataDir string
	Home    string // HOME for kubectl/docker: their caches and config stay per test
	Args    []string
	agents  int
}

// StartCluster brings up `berth up` and waits until /readyz answers and the
// kubeconfig exists. Extra args are passed to `berth up`.
func StartCluster(t testing.TB, args ...string) *Cluster {
	t.Helper()
	Require(t)
	c := &Cluster{Net: NewNetns(t), DataDir: t.TempDir(), Home: t.TempDir(), Args: args}
	c.proc = proc{t: t, net: c.Net, home: c.Home, args: func() []string {
		return append([]string{"up", "--data-dir", c.DataDir, "--node-ip", NodeIP,
			"--advertise-address", NodeIP, "--node-name", "node1"}, c.Args...)
	}}
	c.Start()
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			c.dumpLog()
		}
		c.Reset()
		cleanupMounts(t, c.DataDir)
	})
	return c
}

// Start launches berth (again, after Stop or Kill) with the same data dir
// and waits until it is ready.
func (c *Cluster) Start() {
	c.t.Helper()
	c.start()
	c.waitReady(60 * time.Second)
}

func (c *Cluster) waitReady(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.exited() {
			c.dumpLog()
			c.t.Fatalf("berth exited before it was ready")
		}
		// /readyz turns ok before the local agent has opened its Docker
		// socket, and tests use both at once.
		_, errSock := os.Stat(filepath.Join(c.DataDir, "docker.sock"))
		if _, err := os.Stat(c.Kubeconfig()); err == nil && errSock == nil {
			out, err := c.Net.Command(context.Background(), "curl", "-sk", "--max-time", "2", "https://127.0.0.1:6443/readyz").CombinedOutput()
			if err == nil && strings.TrimSpace(string(out)) == "ok" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.dumpLog()
	c.t.Fatalf("berth not ready after %s", timeout)
}

// Reset runs `berth reset` for the cluster's data dir.
func (c *Cluster) Reset() { c.reset(c.DataDir) }

// Agent is `berth agent` on a second "host": a namespace of its own,
// linked to the cluster's namespace by a veth pair, with its own data dir.
type Agent struct {
	proc
	Net      *Netns
	DataDir  string
	NodeName string
	NodeIP   string
}

// AddAgent joins a new node called name to c with the server's join token
// and waits until the node is Ready. Its namespace reaches the server's
// NodeIP through the link and nothing else.
func (c *Cluster) AddAgent(name string) *Agent {
	c.t.Helper()
	c.agents++
	n := newBareNetns(c.t)
	hostSide := fmt.Sprintf("agent%d", c.agents)
	serverSide, agentSide := fmt.Sprintf("172.21.%d.1", c.agents), fmt.Sprintf("172.21.%d.2", c.agents)
	mustRun(c.t, "ip", "-n", c.Net.Name, "link", "add", hostSide, "type", "veth", "peer", "name", "uplink", "netns", n.Name)
	mustRun(c.t, "ip", "-n", c.Net.Name, "addr", "add", serverSide+"/24", "dev", hostSide)
	mustRun(c.t, "ip", "-n", c.Net.Name, "link", "set", hostSide, "up")
	mustRun(c.t, "ip", "-n", n.Name, "addr", "add", agentSide+"/24", "dev", "uplink")
	mustRun(c.t, "ip", "-n", n.Name, "link", "set", "uplink", "up")
	mustRun(c.t, "ip", "-n", n.Name, "route", "add", NodeIP+"/32", "via", serverSide)
	token, err := os.ReadFile(filepath.Join(c.DataDir, "token"))
	if err != nil {
		c.t.Fatalf("read join token: %v", err)
	}
	a := &Agent{Net: n, DataDir: c.t.TempDir(), NodeName: name, NodeIP: agentSide}
	home := c.t.TempDir()
	a.proc = proc{t: c.t, net: n, home: home, args: func() []string {
		return []string{"agent", "--server", "https://" + NodeIP + ":6443", "--token", strings.TrimSpace(string(token)),
			"--data-dir", a.DataDir, "--node-name", name, "--node-ip", agentSide}
	}}
	a.start()
	c.t.Cleanup(func() {
		a.Stop()
		if c.t.Failed() {
			a.dumpLog()
		}
		a.reset(a.DataDir)
		cleanupMounts(c.t, a.DataDir)
	})
	Eventually(c.t, 60*time.Second, func() error {
		if a.exited() {
			a.dumpLog()
			c.t.Fatalf("berth agent %s exited", name)
		}
		out, _ := c.KubectlErr("", "get", "node", name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if out != "True" {
			return fmt.Errorf("node %s Ready=%q", name, out)
		}
		return nil
	})
	return a
}

// DockerHost is the DOCKER_HOST value for the agent's engine.
func (a *Agent) DockerHost() string { return "unix://" + filepath.Join(a.DataDir, "docker.sock") }

// Kubeconfig is the admin kubeconfig berth wrote.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.DataDir, "kubeconfig") }

// DockerHost is the DOCKER_HOST value for this cluster's engine.
func (c *Cluster) DockerHost() string { return "unix://" + filepath.Join(c.DataDir, "docker.sock") }

func (c *Cluster) env() []string {
	return append(os.Environ(), "KUBECONFIG="+c.Kubeconfig(), "HOME="+c.Home,
		"DOCKER_HOST="+c.DockerHost(), "DOCKER_CONFIG="+filepath.Join(c.Home, ".docker"))
}

// Run runs a command inside the cluster's namespace with KUBECONFIG,
// DOCKER_HOST and HOME set, and returns stdout, stderr and the error.
func (c *Cluster) Run(ctx context.Context, stdin string, name string, args ...string) (string, string, error) {
	cmd := c.Net.Command(ctx, name, args...)
	cmd.Env = c.env()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return so.String(), se.String(), err
}

// Kubectl runs the real kubectl and fails the test on a non-zero exit.
func (c *Cluster) Kubectl(args ...string) string {
	c.t.Helper()
	return c.mustRun("", "kubectl", args...)
}

// KubectlIn runs kubectl with stdin (for `apply -f -`).
func (c *Cluster) KubectlIn(stdin string, args ...string) string {
	c.t.Helper()
	return c.mustRun(stdin, "kubectl", args...)
}

// KubectlErr runs kubectl and returns its combined output and error, for
// commands that are expected to fail.
func (c *Cluster) KubectlErr(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	so, se, err := c.Run(ctx, stdin, "kubectl", args...)
	return so + se, err
}

// Docker runs the real docker CLI and fails the test on a non-zero exit.
func (c *Cluster) Docker(args ...string) string {
	c.t.Helper()
	return c.mustRun("", "docker", args...)
}

// DockerErr runs docker and returns combined output and error.
func (c *Cluster) DockerErr(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	so, se, err := c.Run(ctx, stdin, "docker", args...)
	return so + se, err
}

func (c *Cluster) mustRun(stdin, name string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	so, se, err := c.Run(ctx, stdin, name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, so, se)
	}
	return so
}

// Eventually polls f every 100 ms until it returns nil or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("condition not met after %s: %v", timeout, err)
}

// HTTPGet fetches url from inside the namespace with curl (no proxy, 5 s cap).
func (c *Cluster) HTTPGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	so, se, err := c.Run(ctx, "", "curl", "-sS", "--noproxy", "*", "--max-time", "5", url)
	if err != nil {
		return so, fmt.Errorf("curl %s: %v: %s", url, err, se)
	}
	return so, nil
}

// cleanupMounts unmounts whatever berth left mounted under dir, deepest first,
// so t.TempDir's removal can succeed; a leftover is reported as an error.
func cleanupMounts(t testing.TB, dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var left []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			left = append(left, f[1])
		}
	}
	for i := len(left) - 1; i >= 0; i-- {
		_ = syscall.Unmount(left[i], syscall.MNT_DETACH)
	}
	if len(left) > 0 {
		t.Errorf("berth left %d mounts under its data dir after stopping: %v", len(left), left)
	}
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
