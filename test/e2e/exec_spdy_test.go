package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kubectl129 speaks SPDY for exec and attach (websockets became its
// default only in 1.30).
const kubectl129 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.29"

// TestExecSPDY runs exec with a kubectl that upgrades to SPDY/3.1 (through
// the API server's node proxy to the node agent): output, stdin, the exit
// code, and a tty.
func TestExecSPDY(t *testing.T) {
	if _, err := os.Stat(kubectl129); err != nil {
		t.Skipf("no kubectl 1.29: %v", err)
	}
	c := StartCluster(t)
	loadBaseImages(t, c)
	c.KubectlIn(`
apiVersion: v1
kind: Pod
metadata: {name: spdy}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
`, "apply", "-f", "-")
	waitPod(t, c, "spdy", time.Minute, podRunning)
	run := func(stdin string, args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return c.Run(ctx, stdin, kubectl129, append([]string{"-v=6"}, args...)...)
	}
	so, se, err := run("", "exec", "spdy", "--", "sh", "-c", "echo out; echo err >&2")
	if err != nil || so != "out\n" || !strings.Contains(se, "err\n") {
		t.Errorf("exec: %v\nstdout %q\nstderr %q", err, so, se)
	}
	// -v=6 logs the request; make sure it was not a websocket one.
	if strings.Contains(se, "websocket") {
		t.Errorf("kubectl 1.29 used a websocket, not SPDY:\n%s", se)
	}
	if so, se, err = run("piped\n", "exec", "-i", "spdy", "--", "cat"); err != nil || so != "piped\n" {
		t.Errorf("exec -i cat: %v\nstdout %q\nstderr %q", err, so, se)
	}
	_, _, err = run("", "exec", "spdy", "--", "sh", "-c", "exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exec exit 3: kubectl exit = %v, want 3", err)
	}
	cmdline := kubectl129 + " exec -it spdy -- sh -c 'tty; echo hi'"
	if so, se, err = c.runInTerminal(cmdline); err != nil || !strings.Contains(so, "/dev/pts/") || !strings.Contains(so, "hi\r\n") {
		t.Errorf("%s: %v\nstdout %q\nstderr %q", cmdline, err, so, se)
	}
}
