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

// NewNetns creates a fresh namespace and deletes it when the test ends.
func NewNetns(t testing.TB) *Netns {
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
	mustRun(t, "ip", "-n", n.Name, "link", "add", "node0", "type", "veth", "peer", "name", "node0p")
	mustRun(t, "ip", "-n", n.Name, "addr", "add", NodeIP+"/24", "dev", "node0")
	mustRun(t, "ip", "-n", n.Name, "link", "set", "node0", "up")
	mustRun(t, "ip", "-n", n.Name, "link", "set", "node0p", "up")
	return n
}

// Command returns cmd to run inside the namespace (network only).
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.Path, "--", name}, args...)...)
}

// Cluster is one `berth up` in its own namespace and data dir.
type Cluster struct {
	t       testing.TB
	Net     *Netns
	DataDir string
	Home    string // HOME for kubectl/docker: their caches and config stay per test
	Args    []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// StartCluster brings up `berth up` and waits until /readyz answers and the
// kubeconfig exists. Extra args are passed to `berth up`.
func StartCluster(t testing.TB, args ...string) *Cluster {
	t.Helper()
	Require(t)
	bin := Binary(t)
	c := &Cluster{t: t, Net: NewNetns(t), DataDir: t.TempDir(), Home: t.TempDir(), Args: args}
	_ = bin
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

// Start launches berth (again, after Stop or Kill) with the same data dir.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(c.Home, "berth.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"--net=" + c.Net.Path, "--", Binary(c.t), "up", "--data-dir", c.DataDir,
		"--node-ip", NodeIP, "--advertise-address", NodeIP, "--node-name", "node1"}, c.Args...)
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start berth: %v", err)
	}
	c.cmd, c.log, c.done = cmd, logf, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(c.done)
	c.waitReady(60 * time.Second)
}

func (c *Cluster) waitReady(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			c.dumpLog()
			c.t.Fatalf("berth exited before it was ready")
		default:
		}
		if _, err := os.Stat(c.Kubeconfig()); err == nil {
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

// Stop sends SIGTERM and waits (SIGKILL after 20 s).
func (c *Cluster) Stop() { c.signal(syscall.SIGTERM, 20*time.Second) }

// Kill sends SIGKILL to berth's process group, as a crash would end it.
func (c *Cluster) Kill() { c.signal(syscall.SIGKILL, 10*time.Second) }

func (c *Cluster) signal(sig syscall.Signal, wait time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	// nsenter execs berth, so the PID we started is berth itself.
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(wait):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
	c.log.Close()
}

// Reset runs `berth reset`, which ends the containers, mounts, cgroups,
// network devices and nftables tables that berth made for this data dir
// (containers outlive berth on purpose, so stopping berth is not enough).
func (c *Cluster) Reset() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := c.Net.Command(ctx, Binary(c.t), "reset", "--data-dir", c.DataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Errorf("berth reset: %v\n%s", err, out)
	}
}

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

func (c *Cluster) dumpLog() {
	b, err := os.ReadFile(filepath.Join(c.Home, "berth.log"))
	if err != nil {
		return
	}
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	c.t.Logf("berth log (tail):\n%s", b)
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
