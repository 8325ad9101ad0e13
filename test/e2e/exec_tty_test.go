package e2e

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// An interactive exec shows what the process wrote, no stray bytes before
// it. script(1) is the user's terminal here; its stdin stays open for the
// whole run because script answers EOF on its stdin by typing VEOF into the
// pty, which with kubectl/docker holding that pty raw is a NUL that the
// container's terminal echoes as "^@" (the "^@^@" once seen before output).
func TestExecTtyOutputIsClean(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
`, "apply", "-f", "-")
	waitPod(t, c, "sleeper", time.Minute, podRunning)
	id := strings.TrimSpace(c.Docker("run", "-d", "busybox", "sleep", "3600"))
	for _, cmdline := range []string{
		"kubectl exec -it sleeper -- sh -c 'echo hi'",
		"docker exec -it " + id[:12] + " sh -c 'echo hi'",
	} {
		so, se, err := c.runInTerminal(cmdline)
		// runc clears the container terminal's ONLCR only once it is
		// up, so an early line may get one CR more: the same on screen.
		if got := strings.ReplaceAll(so, "\r\r\n", "\r\n"); err != nil || got != "hi\r\n" {
			t.Errorf("%s: %v\nstdout %q (want \"hi\\r\\n\")\nstderr %q", cmdline, err, so, se)
		}
	}
}

// runInTerminal runs a shell command line on a pseudo-terminal whose input
// stays open (and silent) until the command exits.
func (c *Cluster) runInTerminal(cmdline string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := c.Net.Command(ctx, "script", "-qec", cmdline, "/dev/null")
	cmd.Env = c.env()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	// An *os.File, so that Run does not wait for a copy from it.
	stdin, hold, err := os.Pipe()
	if err != nil {
		return "", "", err
	}
	defer hold.Close()
	defer stdin.Close()
	cmd.Stdin = stdin
	err = cmd.Run()
	return so.String(), se.String(), err
}
