package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// fakeEngine holds containers whose state files the test writes, the way
// a shim would; nothing runs.
func fakeEngine(t *testing.T) *Engine {
	t.Helper()
	root := t.TempDir()
	return &Engine{root: root, containers: map[string]*container{}, names: map[string]string{}, closed: make(chan struct{})}
}

func addFake(t *testing.T, e *Engine, id, name string, labels map[string]string, st *shim.State) *container {
	t.Helper()
	dir := filepath.Join(e.root, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &container{dir: dir, exitCh: make(chan struct{}), removedCh: make(chan struct{}),
		meta: containerMeta{ID: id, Name: name, Created: time.Now(), Spec: ContainerSpec{Labels: labels}}}
	if st != nil {
		if err := shim.WriteState(c.statePath(), st); err != nil {
			t.Fatal(err)
		}
	}
	e.containers[id], e.names[name] = c, id
	return c
}

func TestContainerStates(t *testing.T) {
	e := fakeEngine(t)
	ctx := context.Background()
	addFake(t, e, "aaaa1111"+hex64[8:], "created", nil, nil)
	addFake(t, e, "aaaa2222"+hex64[8:], "web", map[string]string{"app": "web"},
		&shim.State{Status: shim.StatusRunning, Pid: 42, ShimPid: 41, RestartCount: 2})
	addFake(t, e, "bbbb3333"+hex64[8:], "done", map[string]string{"app": "web"},
		&shim.State{Status: shim.StatusExited, ExitCode: 137, OOMKilled: true, Pid: 0})
	addFake(t, e, "cccc4444"+hex64[8:], "looping", nil, &shim.State{Status: shim.StatusRestarting, Pid: -7})

	tests := []struct {
		ref     string
		status  string
		running bool
		pid     int
		exit    int
	}{
		{"created", StatusCreated, false, 0, 0},
		{"/web", StatusRunning, true, 42, 0},
		{"bbbb", StatusExited, false, 0, 137},
		{"cccc4444", StatusRestarting, false, 0, 0},
	}
	for _, tc := range tests {
		c, err := e.Container(ctx, tc.ref)
		if err != nil {
			t.Fatalf("Container(%q): %v", tc.ref, err)
		}
		if c.State.Status != tc.status || c.State.Running != tc.running || c.State.Pid != tc.pid || c.State.ExitCode != tc.exit {
			t.Errorf("Container(%q).State = %+v, want %s running=%v pid=%d exit=%d", tc.ref, c.State, tc.status, tc.running, tc.pid, tc.exit)
		}
	}
	if c, _ := e.Container(ctx, "web"); c.RestartCount != 2 || c.ShimPid != 41 {
		t.Errorf("web restarts %d shim %d, want 2 and 41", c.RestartCount, c.ShimPid)
	}
	if c, _ := e.Container(ctx, "done"); !c.State.OOMKilled {
		t.Error("done: OOMKilled lost")
	}
	if _, err := e.Container(ctx, "aaaa"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("Container(aaaa) = %v, want ErrAmbiguous", err)
	}
	if _, err := e.Container(ctx, "zzz"); !errors.Is(err, ErrContainerNotFound) {
		t.Errorf("Container(zzz) = %v, want ErrContainerNotFound", err)
	}

	running, _ := e.List(ctx, ListOptions{})
	if len(running) != 2 {
		t.Errorf("List() = %d containers, want the running and the restarting one", len(running))
	}
	web, _ := e.List(ctx, ListOptions{All: true, Labels: map[string]string{"app": "web"}})
	if len(web) != 2 {
		t.Errorf("List(app=web, all) = %d, want 2", len(web))
	}

	if err := e.Rename(ctx, "done", "web"); !errors.Is(err, ErrNameInUse) {
		t.Errorf("rename onto a used name = %v, want ErrNameInUse", err)
	}
	if err := e.Rename(ctx, "done", "finished"); err != nil {
		t.Fatal(err)
	}
	if c, err := e.Container(ctx, "finished"); err != nil || c.Name != "finished" {
		t.Errorf("after rename: %v, %v", c, err)
	}
	if _, err := e.Container(ctx, "done"); err == nil {
		t.Error("the old name still resolves")
	}
}

func TestWaitConditions(t *testing.T) {
	e := fakeEngine(t)
	ctx := context.Background()
	exited := addFake(t, e, "dddd"+hex64[4:], "exited", nil, &shim.State{Status: shim.StatusExited, ExitCode: 3})
	running := addFake(t, e, "eeee"+hex64[4:], "running", nil, &shim.State{Status: shim.StatusRunning, Pid: 9})

	st, err := e.Wait(ctx, exited.meta.ID, WaitNotRunning)
	if err != nil || st.ExitCode != 3 {
		t.Errorf("Wait(not-running) on an exited container = %+v, %v; want 3 at once", st, err)
	}
	// next-exit registers now and fires on the next exit even if that
	// happens before anyone reads the channel.
	ch, err := e.WaitChan(ctx, running.meta.ID, WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		t.Fatalf("WaitChan fired before the exit: %+v", r)
	default:
	}
	shim.WriteState(running.statePath(), &shim.State{Status: shim.StatusExited, ExitCode: 7})
	running.signalExit()
	if r := <-ch; r.Err != nil || r.State.ExitCode != 7 {
		t.Errorf("next-exit = %+v, want exit 7", r)
	}
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := e.Wait(ctx2, exited.meta.ID, WaitRemoved); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(removed) on a container that stays = %v, want the context's error", err)
	}
}
