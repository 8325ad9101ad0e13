package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/engine"
)

// TestEngineCrashRestartAndReset drives the engine through the docker CLI:
// restart policies and runtime errors, a berth crash (SIGKILL) that the
// containers and their logs survive, and `berth reset` leaving no process,
// mount or cgroup behind.
func TestEngineCrashRestartAndReset(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)

	c.Docker("run", "-d", "--name", "counter", "busybox", "sh", "-c",
		"i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done")

	// on-failure:2 runs three times in all, then stays exited.
	c.Docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1")
	Eventually(t, 20*time.Second, func() error {
		got := inspectField(t, c, "flaky", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}")
		if got != "2 exited 1" {
			return fmt.Errorf("flaky = %q, want 2 exited 1", got)
		}
		return nil
	})
	if out := c.Docker("logs", "flaky"); out != "try\ntry\ntry\n" {
		t.Errorf("flaky logs = %q, want three runs", out)
	}

	// A missing executable: the runtime's message and docker's exit code.
	out, err := c.DockerErr("", "run", "--name", "broken", "busybox", "/no/such/binary")
	if exitCode(err) != 127 || !strings.Contains(out, "/no/such/binary") {
		t.Errorf("run of a missing binary: exit %d, %q; want 127 and the runtime's error", exitCode(err), out)
	}

	// Crash berth: the container keeps running under its shim.
	before := lastTick(t, c.Docker("logs", "counter"))
	c.Kill()
	if n := processesUnder(t, c.DataDir); n == 0 {
		t.Fatal("no container processes survived the berth crash")
	}
	time.Sleep(time.Second) // let the container log while berth is down
	c.Start()
	Eventually(t, 30*time.Second, func() error {
		// The Docker API comes up after the API server's readiness.
		logs, err := c.DockerErr("", "logs", "counter")
		if err != nil {
			return err
		}
		if after := lastTick(t, logs); after < before+5 {
			return fmt.Errorf("last tick %d, want > %d+5 (logged while berth was down)", after, before)
		}
		for i := 0; i <= before+5; i++ {
			if !strings.Contains(logs, fmt.Sprintf("tick %d\n", i)) {
				return fmt.Errorf("tick %d missing from the logs", i)
			}
		}
		return nil
	})
	if got := inspectField(t, c, "counter", "{{.State.Running}}"); got != "true" {
		t.Errorf("after the berth restart counter running = %s", got)
	}
	c.Docker("stop", "-t", "1", "counter")
	// sh as PID 1 has no TERM handler, so the kernel ignores SIGTERM and
	// stop ends it with SIGKILL after the grace period, as docker does.
	if got := inspectField(t, c, "counter", "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Errorf("after stop: %q, want exited 137", got)
	}

	// berth reset ends what is still running and removes every trace.
	c.Docker("run", "-d", "busybox", "sleep", "1000")
	c.Stop()
	c.Reset()
	if n := processesUnder(t, c.DataDir); n != 0 {
		t.Errorf("%d processes of this data dir survive berth reset", n)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), c.DataDir) {
		t.Errorf("mounts under %s survive berth reset", c.DataDir)
	}
	for _, h := range []string{"memory", "cpu", "pids"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, engine.CgroupRoot(c.DataDir))); err == nil {
			t.Errorf("cgroup %s:%s survives berth reset", h, engine.CgroupRoot(c.DataDir))
		}
	}
}

// lastTick is the highest "tick N" in a log.
func lastTick(t *testing.T, logs string) int {
	t.Helper()
	last := -1
	for _, line := range strings.Split(logs, "\n") {
		if n, err := strconv.Atoi(strings.TrimPrefix(line, "tick ")); err == nil && strings.HasPrefix(line, "tick ") && n > last {
			last = n
		}
	}
	return last
}

// processesUnder counts live processes whose command line names dir (shims
// carry their container dir) or that sit in this berth's cgroup.
func processesUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	cg := engine.CgroupRoot(dir)
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A zombie (killed, its reaper not yet run) holds no resources.
		if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(stat), ") Z ") {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cgroups, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if strings.Contains(string(cmd), engine.ShimArg+"\x00"+dir) || strings.Contains(string(cgroups), ":"+cg+"/") {
			t.Logf("process %d of %s: %q", pid, dir, strings.ReplaceAll(string(cmd), "\x00", " "))
			n++
		}
	}
	return n
}
