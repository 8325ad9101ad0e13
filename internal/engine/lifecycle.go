package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// shimCall sends one request to a container's shim and reads the reply
// line. It returns the connection for ops that stream afterwards.
func (e *Engine) shimDial(ctx context.Context, id string, req shim.Request) (net.Conn, *bufio.Reader, *shim.Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", e.socketPath(id))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errNoShim, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		stop()
		conn.Close()
		return nil, nil, nil, fmt.Errorf("%w: %w", errNoShim, err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	stop()
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		return nil, nil, nil, fmt.Errorf("%w: %w", errNoShim, err)
	}
	var resp shim.Response
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("shim reply: %w", err)
	}
	return conn, br, &resp, nil
}

func (e *Engine) shimCall(ctx context.Context, id string, req shim.Request) (*shim.Response, error) {
	conn, _, resp, err := e.shimDial(ctx, id, req)
	if err != nil {
		return nil, err
	}
	conn.Close()
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// Start runs a created or exited container: it mounts the rootfs if
// needed, starts a shim and has it `runc run` the container. It returns
// once the process runs, or with the runtime's error (also recorded in
// the state, with exit code 127 for a missing executable like docker).
// Attaches waiting for this container are connected before the process
// starts, so they see all of its output.
func (e *Engine) Start(ctx context.Context, ref string) (retErr error) {
	t0 := time.Now()
	defer func() { e.log.Debug("start", "container", ref, "took", time.Since(t0), "err", retErr) }()
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return fmt.Errorf("%w: %s", ErrContainerNotFound, ref)
	}
	// A shim spawned by Create boots while the caller gets here.
	c.mu.Lock()
	shimc := c.shimc
	c.shimc = nil
	c.mu.Unlock()
	prepared := false
	if shimc != nil {
		tw := time.Now()
		prepared = <-shimc == nil
		e.log.Debug("start: shim from create", "container", ref, "waited", time.Since(tw))
	}
	st := c.state()
	if st.Status == shim.StatusRunning || st.Status == shim.StatusRestarting {
		if shimAlive(st.ShimPid, c.dir) {
			return fmt.Errorf("%w: %s", ErrRunning, c.meta.ID[:12])
		}
	}
	if err := e.mountRootfs(&c.meta); err != nil {
		return err
	}
	if c.meta.Spec.NetNS == NetworkNone {
		// Gone after a berth reset or a reboot; config.json names this path.
		if p := filepath.Join(c.dir, "netns"); !mounted(p) {
			os.Remove(p)
			if err := newLoopbackNetns(p); err != nil {
				return err
			}
		}
	}
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	failPending := func(err error) {
		for _, p := range pending {
			p.fail(err)
		}
	}
	// A created container keeps an idle shim (from Create, or adopted after
	// an engine restart); an exited one needs a new shim.
	if !(prepared || st.Status == shim.StatusCreated) || !shimAlive(st.ShimPid, c.dir) {
		e.waitShimGone(ctx, c)
		c.mu.Lock()
		c.meta.RestartCount += st.RestartCount
		c.mu.Unlock()
		if err := c.saveMeta(); err != nil {
			failPending(err)
			return err
		}
		if err := e.prepareShim(c); err != nil {
			failPending(err)
			return fmt.Errorf("start %s: %w", c.meta.ID[:12], err)
		}
	}
	m := c.meta
	for _, p := range pending {
		p.connect(e, m.ID)
	}
	ts := time.Now()
	_, err = e.shimCall(ctx, m.ID, shim.Request{Op: "start"})
	e.log.Debug("start: runc run", "container", ref, "took", time.Since(ts))
	e.startMonitor(c, 0)
	if err != nil {
		return fmt.Errorf("start %s: %w", m.ID[:12], err)
	}
	return nil
}

// prepareShim writes shim.json and starts the shim that will run the
// container's next run.
func (e *Engine) prepareShim(c *container) error {
	c.mu.Lock()
	m := c.meta
	c.mu.Unlock()
	policy := m.Spec.RestartPolicy.Name
	if policy == "" {
		policy = "no"
	}
	cfg := &shim.Config{
		ID: m.ID, Bundle: c.dir, Runc: e.runc, RuncRoot: filepath.Join(e.root, "runc"),
		Tty: m.Spec.Tty, OpenStdin: m.Spec.OpenStdin, StdinOnce: m.Spec.StdinOnce,
		LogPath: c.logPath(), StatePath: c.statePath(), Socket: e.socketPath(m.ID),
		CgroupsPath: m.CgroupsPath,
		Restart:     policy, MaxRetries: m.Spec.RestartPolicy.MaximumRetryCount,
	}
	if err := shim.WriteConfig(filepath.Join(c.dir, "shim.json"), cfg); err != nil {
		return err
	}
	return e.spawnShim(c)
}

// spawnShim starts `berth __shim DIR` in its own session and waits until
// its socket listens.
func (e *Engine) spawnShim(c *container) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return err
	}
	defer devnull.Close()
	stderr, err := os.OpenFile(filepath.Join(c.dir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return err
	}
	defer stderr.Close()
	cmd := exec.Command(e.shimBin, ShimArg, c.dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = "/"
	// Its own session: signals to berth's process group must not reach shims.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("spawn shim: %w", err)
	}
	// Reap the shim when it exits while we run; after an engine restart
	// orphaned shims are reaped by init.
	go cmd.Wait()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return fmt.Errorf("shim did not start: %w", err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("shim: %s", line)
	}
	return nil
}

// startMonitor follows a container's exits through its shim until the
// shim is gone, waking Wait callers and doing AutoRemove.
func (e *Engine) startMonitor(c *container, after int) {
	c.mu.Lock()
	if c.monitored {
		c.mu.Unlock()
		return
	}
	c.monitored = true
	c.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-e.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			resp, err := e.shimCall(ctx, c.meta.ID, shim.Request{Op: "wait", After: after})
			if ctx.Err() != nil {
				c.mu.Lock()
				c.monitored = false
				c.mu.Unlock()
				return
			}
			if err != nil || resp.State == nil {
				break // shim gone: its last state is on disk
			}
			after = resp.State.Exits
			c.signalExit()
			if resp.State.Status != shim.StatusRestarting {
				break // the shim exits now
			}
		}
		c.mu.Lock()
		c.monitored = false
		c.mu.Unlock()
		c.signalExit()
		if c.meta.Spec.AutoRemove {
			e.autoRemove(c)
		}
	}()
}

// waitShimGone waits (at most 2 s) for the shim process of c to exit,
// so a new shim never races the old one for the socket path.
func (e *Engine) waitShimGone(ctx context.Context, c *container) {
	st := c.state()
	if !shimAlive(st.ShimPid, c.dir) {
		return
	}
	fd, err := unix.PidfdOpen(st.ShimPid, 0)
	if err != nil {
		return // already gone
	}
	defer unix.Close(fd)
	// A pidfd becomes readable when the process exits.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, 2000)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// waitCgroupEmpty waits (at most 2 s) until a killed cgroup has no
// processes; SIGKILL is asynchronous.
func (e *Engine) waitCgroupEmpty(ctx context.Context, path string) {
	procs := filepath.Join(shim.CgroupDir("pids", path), "cgroup.procs")
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, err := os.ReadFile(procs)
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond) // only on the rare orphan path
	}
}

// signalExit wakes everyone waiting for the next exit.
func (c *container) signalExit() {
	c.mu.Lock()
	close(c.exitCh)
	c.exitCh = make(chan struct{})
	c.mu.Unlock()
}

func (e *Engine) autoRemove(c *container) {
	if err := e.RemoveContainer(context.Background(), c.meta.ID, RemoveOptions{}); err != nil && !errors.Is(err, ErrContainerNotFound) {
		e.log.Warn("auto-remove failed", "container", c.meta.ID, "err", err)
	}
}

// Wait blocks until the condition holds and returns the state then.
func (e *Engine) Wait(ctx context.Context, ref string, cond WaitCondition) (*ContainerState, error) {
	ch, err := e.WaitChan(ctx, ref, cond)
	if err != nil {
		return nil, err
	}
	res := <-ch
	return res.State, res.Err
}

// WaitResult is what WaitChan delivers.
type WaitResult struct {
	State *ContainerState
	Err   error // ctx's error if it ended first
}

// WaitChan registers a wait and returns at once; the channel receives one
// result when the condition holds. An exit after WaitChan returns is never
// missed, so a caller can register, answer its client, and only then let
// the container start (docker run's wait-before-start).
func (e *Engine) WaitChan(ctx context.Context, ref string, cond WaitCondition) (<-chan WaitResult, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	exitCh, removedCh := c.exitCh, c.removedCh
	c.mu.Unlock()
	if cond == WaitNotRunning || cond == "" {
		if d := e.describe(c); !d.State.Running && !d.State.Restarting {
			exitCh = closedCh
		}
	}
	out := make(chan WaitResult, 1)
	go func() {
		var wake <-chan struct{} = exitCh
		if cond == WaitRemoved {
			wake = nil
		}
		select {
		case <-wake:
		case <-removedCh:
		case <-ctx.Done():
			out <- WaitResult{Err: ctx.Err()}
			return
		}
		st := e.describe(c).State
		out <- WaitResult{State: &st}
	}()
	return out, nil
}

// closedCh is a channel that is always ready.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Kill sends sig to the container's init. ErrNotRunning if it doesn't run.
func (e *Engine) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	return e.kill(ctx, c, sig, false)
}

func (e *Engine) kill(ctx context.Context, c *container, sig syscall.Signal, noRestart bool) error {
	st := c.state()
	if st.Status != shim.StatusRunning && !(noRestart && st.Status == shim.StatusRestarting) {
		return fmt.Errorf("%w: %s", ErrNotRunning, c.meta.ID[:12])
	}
	_, err := e.shimCall(ctx, c.meta.ID, shim.Request{Op: "kill", Signal: int(sig), NoRestart: noRestart})
	if isNoShim(err) {
		return fmt.Errorf("%w: %s", ErrNotRunning, c.meta.ID[:12])
	}
	return err
}

// Stop sends the stop signal, waits up to the grace period, then SIGKILL,
// and waits for the exit. The restart policy does not restart a stopped
// container. Stopping a container that is not running is not an error.
func (e *Engine) Stop(ctx context.Context, ref string, opts StopOptions) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	return e.stop(ctx, c, opts)
}

func (e *Engine) stop(ctx context.Context, c *container, opts StopOptions) error {
	sigName := firstNonEmpty(opts.Signal, c.meta.StopSignal)
	sig, err := parseSignal(sigName)
	if err != nil {
		return err
	}
	timeout := 10 * time.Second
	if c.meta.Spec.StopTimeout != nil {
		timeout = time.Duration(*c.meta.Spec.StopTimeout) * time.Second
	}
	if opts.Timeout != nil {
		timeout = *opts.Timeout
	}
	c.mu.Lock()
	exitCh := c.exitCh
	c.mu.Unlock()
	if timeout > 0 {
		if err := e.kill(ctx, c, sig, true); err != nil {
			if errors.Is(err, ErrNotRunning) {
				return nil
			}
			return err
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-exitCh:
			return e.waitStopped(ctx, c)
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := e.kill(ctx, c, unix.SIGKILL, true); err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil
		}
		return err
	}
	return e.waitStopped(ctx, c)
}

// waitStopped waits until the shim reports the container not running.
func (e *Engine) waitStopped(ctx context.Context, c *container) error {
	for {
		c.mu.Lock()
		exitCh := c.exitCh
		c.mu.Unlock()
		st := c.state()
		if st.Status != shim.StatusRunning && st.Status != shim.StatusRestarting {
			return nil
		}
		if !shimAlive(st.ShimPid, c.dir) {
			return nil
		}
		select {
		case <-exitCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Restart stops (with the given options) and starts a container.
func (e *Engine) Restart(ctx context.Context, ref string, opts StopOptions) error {
	if err := e.Stop(ctx, ref, opts); err != nil {
		return err
	}
	return e.Start(ctx, ref)
}

// RemoveContainer deletes a container: its rootfs mount, cgroups, bundle
// and logs. A running container is refused with ErrRunning unless
// opts.Force, which kills it first.
func (e *Engine) RemoveContainer(ctx context.Context, ref string, opts RemoveOptions) (retErr error) {
	t0 := time.Now()
	defer func() { e.log.Debug("remove", "container", ref, "took", time.Since(t0), "err", retErr) }()
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return fmt.Errorf("%w: %s", ErrContainerNotFound, ref)
	}
	c.mu.Lock()
	shimc := c.shimc
	c.shimc = nil
	c.mu.Unlock()
	if shimc != nil {
		<-shimc
	}
	st := c.state()
	if st.Status == shim.StatusCreated && shimAlive(st.ShimPid, c.dir) {
		// An idle shim that never ran anything: nothing to stop gracefully.
		syscall.Kill(st.ShimPid, syscall.SIGKILL)
		e.waitShimGone(ctx, c)
	}
	if (st.Status == shim.StatusRunning || st.Status == shim.StatusRestarting) && shimAlive(st.ShimPid, c.dir) {
		if !opts.Force {
			return fmt.Errorf("%w: cannot remove container %s: stop it first or force", ErrRunning, c.meta.Name)
		}
		zero := time.Duration(0)
		if err := e.stop(ctx, c, StopOptions{Timeout: &zero}); err != nil {
			return fmt.Errorf("remove %s: %w", c.meta.ID[:12], err)
		}
	}
	if err := unmountRootfs(c.meta.Rootfs); err != nil {
		return err
	}
	if err := removeNetns(filepath.Join(c.dir, "netns")); err != nil {
		return err
	}
	// The shim removed the cgroups when the container exited; they remain
	// only after a failed start or a lost shim, whose orphans go first.
	if err := shim.RemoveCgroup(c.meta.CgroupsPath); err != nil {
		killCgroup(c.meta.CgroupsPath)
		e.waitCgroupEmpty(ctx, c.meta.CgroupsPath)
		shim.RemoveCgroup(c.meta.CgroupsPath)
	}
	os.RemoveAll(filepath.Join(e.root, "runc", c.meta.ID))
	// Deleting the files can take tens of ms on a busy disk; one rename
	// takes the container away now and the files go in the background.
	final := e.describe(c).State
	trash := filepath.Join(e.root, "trash", c.meta.ID)
	if err := os.Rename(c.dir, trash); err != nil {
		return fmt.Errorf("remove %s: %w", c.meta.ID[:12], err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		os.RemoveAll(trash)
	}()
	os.Remove(e.socketPath(c.meta.ID))
	e.mu.Lock()
	delete(e.containers, c.meta.ID)
	if e.names[c.meta.Name] == c.meta.ID {
		delete(e.names, c.meta.Name)
	}
	e.mu.Unlock()
	c.mu.Lock()
	c.removed, c.final = true, &final
	close(c.removedCh)
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range pending {
		p.fail(fmt.Errorf("%w: removed", ErrContainerNotFound))
	}
	return nil
}

// parseSignal accepts "SIGTERM", "TERM", "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("%w: invalid signal %q", ErrInvalid, s)
}

// ParseSignal is parseSignal for callers (docker kill -s, StopSignal).
func ParseSignal(s string) (syscall.Signal, error) { return parseSignal(s) }
