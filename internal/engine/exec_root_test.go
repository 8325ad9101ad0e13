package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A tty exec shows what the process and its terminal wrote, nothing more:
// input sent at once (kubectl and docker send stdin as soon as the stream
// is up) is echoed by the container's terminal only, not also by the pty
// runc runs on before runc makes it raw.
func TestRootTtyExecEchoesInputOnce(t *testing.T) {
	e, _ := rootEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := e.Create(ctx, ContainerSpec{Image: "busybox", Cmd: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	defer e.RemoveContainer(ctx, c.ID, RemoveOptions{Force: true})
	for i := range 5 {
		var out bytes.Buffer
		p, err := e.Exec(ctx, c.ID, ExecOptions{Cmd: []string{"sh", "-c", "read l; echo got-$l"}, Tty: true,
			Stdin: strings.NewReader("xyz\n"), Stdout: &out, ConsoleWidth: 80, ConsoleHeight: 24})
		if err != nil {
			t.Fatal(err)
		}
		code, err := p.Wait(ctx)
		// runc clears the container terminal's ONLCR only once it is
		// up, so an early line may get one CR more: the same on screen.
		got := strings.ReplaceAll(out.String(), "\r\r\n", "\r\n")
		if code != 0 || err != nil || got != "xyz\r\ngot-xyz\r\n" {
			t.Errorf("#%d: tty exec = %d, %v, %q; want 0, nil, the echo once then got-xyz", i, code, err, out.String())
		}
	}
}
