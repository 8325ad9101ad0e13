package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// The root tests run real runc containers; the test binary doubles as
// the shim (`engine.test __shim DIR`), the way cmd/berth re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ShimArg {
		os.Exit(shim.Main())
	}
	os.Exit(m.Run())
}

// rootEngine opens an engine in a temp data dir with busybox loaded from
// scripts/base-images.sh output, and resets everything at the end.
func rootEngine(t *testing.T) (*Engine, string) {
	t.Helper()
	if os.Getuid() != 0 || os.Getenv("BERTH_E2E") != "1" {
		t.Skip("needs root and BERTH_E2E=1")
	}
	_, file, _, _ := runtime.Caller(0)
	tarPath := filepath.Join(filepath.Dir(file), "..", "..", "_out", "images", "busybox.tar")
	if _, err := os.Stat(tarPath); err != nil {
		t.Skipf("run scripts/base-images.sh first: %v", err)
	}
	dir := t.TempDir()
	e, err := New(Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		if err := Reset(context.Background(), dir); err != nil {
			t.Errorf("reset: %v", err)
		}
		assertNoLeftovers(t, dir)
	})
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := e.Load(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return e, dir
}

func assertNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Errorf("mounts under %s remain", dir)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", CgroupRoot(dir))); err == nil {
		t.Errorf("cgroup %s remains", CgroupRoot(dir))
	}
}

func runToExit(t *testing.T, e *Engine, spec ContainerSpec) (*Container, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := e.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	attached := make(chan error, 1)
	go func() { attached <- e.Attach(ctx, c.ID, AttachOptions{Stdout: &out, Stderr: &errb}) }()
	waitPending(t, e, c.ID)
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := e.Wait(ctx, c.ID, WaitNotRunning); err != nil {
		t.Fatal(err)
	}
	if err := <-attached; err != nil {
		t.Fatalf("attach: %v", err)
	}
	got, err := e.Container(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got, out.String(), errb.String()
}

// waitPending waits until an Attach registered itself for the next start.
func waitPending(t *testing.T, e *Engine, id string) {
	c, err := e.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("attach did not register")
}

func TestRootRunEchoAndExitCodes(t *testing.T) {
	e, _ := rootEngine(t)
	ctx := context.Background()
	c, out, errOut := runToExit(t, e, ContainerSpec{Image: "busybox", Cmd: []string{"sh", "-c", "echo hi; echo oops >&2; exit 3"}})
	if out != "hi\n" || errOut != "oops\n" {
		t.Errorf("output = %q / %q, want hi / oops", out, errOut)
	}
	if c.State.Status != StatusExited || c.State.ExitCode != 3 {
		t.Errorf("state = %+v, want exited 3", c.State)
	}
	var lines []string
	if err := e.Logs(ctx, c.ID, LogOptions{}, func(le LogEntry) error {
		lines = append(lines, le.Stream+":"+string(le.Line))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines) // two pipes: their relative order is not defined
	if strings.Join(lines, "") != "stderr:oops\nstdout:hi\n" {
		t.Errorf("logs = %q", lines)
	}
	if err := e.RemoveContainer(ctx, c.ID, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Container(ctx, c.ID); !errors.Is(err, ErrContainerNotFound) {
		t.Errorf("after remove: %v, want not found", err)
	}

	// A missing executable: the runtime's error, exit code 127.
	bad, err := e.Create(ctx, ContainerSpec{Image: "busybox", Cmd: []string{"/nope"}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Start(ctx, bad.ID)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("start of /nope: %v, want the runtime's error", err)
	}
	got, _ := e.Container(ctx, bad.ID)
	if got.State.ExitCode != 127 || got.State.Error == "" {
		t.Errorf("state = %+v, want exit 127 with error", got.State)
	}
	if err := e.RemoveContainer(ctx, bad.ID, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	// Remove alone (no reset) leaves nothing of either container.
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, ct := range []*Container{c, got} {
		if strings.Contains(string(mounts), ct.Rootfs) {
			t.Errorf("rootfs of %s still mounted after remove", ct.ID[:12])
		}
		for _, h := range []string{"memory", "cpu", "pids", "devices", "freezer"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, ct.CgroupsPath)); err == nil {
				t.Errorf("cgroup %s:%s left after remove", h, ct.CgroupsPath)
			}
		}
		if _, err := os.Stat(filepath.Dir(ct.Rootfs)); err == nil {
			t.Errorf("container dir of %s left after remove", ct.ID[:12])
		}
	}
}

func TestRootNetworkNoneHasLoopbackUp(t *testing.T) {
	e, _ := rootEngine(t)
	c, out, _ := runToExit(t, e, ContainerSpec{Image: "busybox", NetNS: NetworkNone, Cmd: []string{"ip", "-o", "link"}})
	if !strings.Contains(out, "lo: <LOOPBACK,UP") || strings.Count(out, "\n") != 1 {
		t.Errorf("links in a --network none container = %q, want only lo, up", out)
	}
	if err := e.RemoveContainer(context.Background(), c.ID, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRootOOMKilled(t *testing.T) {
	e, _ := rootEngine(t)
	c, _, _ := runToExit(t, e, ContainerSpec{Image: "busybox", Resources: Resources{Memory: 32 << 20},
		Cmd: []string{"sh", "-c", `x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived`}})
	if !c.State.OOMKilled || c.State.ExitCode != 137 {
		t.Errorf("state = %+v, want OOMKilled, exit 137", c.State)
	}
}

func TestRootStopExecAndEngineRestart(t *testing.T) {
	e, dir := rootEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := e.Create(ctx, ContainerSpec{Image: "busybox", Labels: map[string]string{"app": "t"},
		Resources: Resources{NanoCPUs: 5e8},
		Cmd:       []string{"sh", "-c", "echo before; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu", c.CgroupsPath, "cpu.cfs_quota_us"))
	if err != nil || strings.TrimSpace(string(b)) != "50000" {
		t.Errorf("cpu quota = %q, %v; want 50000", b, err)
	}
	// Exec without and with a tty.
	var out bytes.Buffer
	p, err := e.Exec(ctx, c.ID, ExecOptions{Cmd: []string{"sh", "-c", "echo in-exec; exit 5"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx); code != 5 || err != nil || out.String() != "in-exec\n" {
		t.Errorf("exec = %d, %v, %q; want 5, nil, in-exec", code, err, out.String())
	}
	p, err = e.Exec(ctx, c.ID, ExecOptions{Cmd: []string{"/nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx); code != 127 || err == nil || !strings.Contains(err.Error(), "/nope") {
		t.Errorf("exec of a missing binary = %d, %v; want 127 and the runtime's error", code, err)
	}
	out.Reset()
	p, err = e.Exec(ctx, c.ID, ExecOptions{Cmd: []string{"sh", "-c", "tty; stty size"}, Tty: true, Stdout: &out, ConsoleWidth: 100, ConsoleHeight: 30})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx); code != 0 || err != nil || !strings.Contains(out.String(), "/dev/pts/") {
		t.Errorf("tty exec = %d, %v, %q; want a pty", code, err, out.String())
	}

	// Restart the engine: the container keeps running and is adopted.
	e.Close()
	e2, err := New(Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	list, err := e2.List(ctx, ListOptions{Labels: map[string]string{"app": "t"}})
	if err != nil || len(list) != 1 || !list[0].State.Running {
		t.Fatalf("after restart: %+v, %v; want the running container", list, err)
	}
	if err := e2.Stop(ctx, c.ID, StopOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := e2.Container(ctx, c.ID)
	if got.State.Running || got.State.ExitCode != 0 {
		t.Errorf("after stop: %+v, want exited 0 (trapped TERM)", got.State)
	}
	var logs strings.Builder
	e2.Logs(ctx, c.ID, LogOptions{}, func(le LogEntry) error { logs.Write(le.Line); return nil })
	if logs.String() != "before\nbye\n" {
		t.Errorf("logs = %q, want before and bye", logs.String())
	}
	if err := e2.RemoveContainer(ctx, c.ID, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRootTTYStdinRestartPolicyCommit(t *testing.T) {
	e, _ := rootEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// docker run -it: a tty, stdin attached before start.
	c, err := e.Create(ctx, ContainerSpec{Image: "busybox", Tty: true, OpenStdin: true, StdinOnce: true,
		Cmd: []string{"sh", "-c", "read line; echo got:$line; tty"}})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var out bytes.Buffer
	attached := make(chan error, 1)
	go func() { attached <- e.Attach(ctx, c.ID, AttachOptions{Stdin: pr, Stdout: &out}) }()
	waitPending(t, e, c.ID)
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Resize(ctx, c.ID, 120, 40); err != nil {
		t.Errorf("resize: %v", err)
	}
	pw.Write([]byte("hello\n"))
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if !strings.Contains(out.String(), "got:hello") || !strings.Contains(out.String(), "/dev/pts/") {
		t.Errorf("tty output = %q, want got:hello and a pts", out.String())
	}

	// --restart on-failure:2 restarts twice, then stays exited.
	r, err := e.Create(ctx, ContainerSpec{Image: "busybox", Cmd: []string{"sh", "-c", "echo run; exit 1"},
		RestartPolicy: RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		got, _ := e.Container(ctx, r.ID)
		if got.RestartCount == 2 && got.State.Status == StatusExited {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, _ := e.Container(ctx, r.ID)
	if got.RestartCount != 2 || got.State.Status != StatusExited || got.State.ExitCode != 1 {
		t.Errorf("on-failure:2 = restarts %d, %+v; want 2 restarts then exited 1", got.RestartCount, got.State)
	}
	var runs int
	e.Logs(ctx, r.ID, LogOptions{}, func(le LogEntry) error { runs++; return nil })
	if runs != 3 {
		t.Errorf("log has %d runs, want 3", runs)
	}

	// Commit: a file written in the container becomes a layer of a new image.
	w, out2, _ := runToExit(t, e, ContainerSpec{Image: "busybox", Cmd: []string{"sh", "-c", "echo built > /marker; rm /bin/vi"}})
	_ = out2
	img, err := e.Commit(ctx, w.ID, CommitOptions{Ref: "committed:1", CreatedBy: "RUN echo built"})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Config.RootFS.DiffIDs) != 2 {
		t.Errorf("committed image has %d layers, want 2", len(img.Config.RootFS.DiffIDs))
	}
	_, out3, _ := runToExit(t, e, ContainerSpec{Image: "committed:1", Cmd: []string{"sh", "-c", "cat /marker; ls /bin/vi || echo novi"}})
	if !strings.Contains(out3, "built") || !strings.Contains(out3, "novi") {
		t.Errorf("container of committed image printed %q, want the marker and no vi", out3)
	}
}

func TestRootLostShim(t *testing.T) {
	e, dir := rootEngine(t)
	ctx := context.Background()
	c, err := e.Create(ctx, ContainerSpec{Image: "busybox", Cmd: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	c, _ = e.Container(ctx, c.ID)
	e.Close()
	// The shim dies on its own (OOM killer, kill -9): its container lives on.
	if err := syscall.Kill(c.ShimPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && shimAlive(c.ShimPid, filepath.Dir(c.Rootfs)); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	e2, err := New(Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	got, err := e2.Container(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Running || got.State.ExitCode != 255 || got.State.Error == "" {
		t.Errorf("after losing its shim: %+v, want exited 255 with an error", got.State)
	}
	if err := e2.RemoveContainer(ctx, c.ID, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(c.State.Pid, 0); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.State.Pid)); !strings.Contains(string(b), ") Z ") {
			t.Errorf("the container's process %d outlived its removal", c.State.Pid)
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", c.CgroupsPath)); err == nil {
		t.Errorf("cgroup %s left", c.CgroupsPath)
	}
}
