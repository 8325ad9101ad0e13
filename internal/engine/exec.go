package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// ExecProcess is a process started by Exec.
type ExecProcess struct {
	cmd    *exec.Cmd
	master *os.File
	done   chan struct{}
	code   int
	err    error
	// pidPath is runc's --pid-file; runtimeErr is runc's own error, if any.
	pidPath    string
	runtimeErr string
}

// Exec starts a process in a running container (`runc exec`). Output is
// copied to opts.Stdout/Stderr; with Tty everything goes through a pty to
// Stdout. The process runs until it exits or ctx is done (which kills
// it). Exec sessions are children of the engine: they end if berth exits.
func (e *Engine) Exec(ctx context.Context, ref string, opts ExecOptions) (*ExecProcess, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	if len(opts.Cmd) == 0 {
		return nil, fmt.Errorf("%w: exec needs a command", ErrInvalid)
	}
	if st := c.state(); st.Status != shim.StatusRunning {
		return nil, fmt.Errorf("%w: container %s is not running", ErrNotRunning, c.meta.ID[:12])
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	proc := *spec.Process
	proc.Args = opts.Cmd
	proc.Terminal = opts.Tty
	proc.Env = mergeEnv(proc.Env, opts.Env)
	if opts.Tty && !hasEnv(proc.Env, "TERM") {
		proc.Env = append(proc.Env, "TERM=xterm")
	}
	if opts.WorkingDir != "" {
		proc.Cwd = opts.WorkingDir
	}
	if opts.User != "" {
		uid, gid, groups, err := resolveUser(c.meta.Rootfs, opts.User)
		if err != nil {
			return nil, err
		}
		proc.User = specs.User{UID: uid, GID: gid, AdditionalGids: groups}
	}
	if opts.Privileged {
		proc.Capabilities = &specs.LinuxCapabilities{Bounding: allCaps, Effective: allCaps, Permitted: allCaps}
	}
	if opts.Tty && opts.ConsoleWidth > 0 {
		proc.ConsoleSize = &specs.Box{Width: uint(opts.ConsoleWidth), Height: uint(opts.ConsoleHeight)}
	}
	execID := newID()[:12]
	procPath := filepath.Join(c.dir, "exec-"+execID+".json")
	pb, err := json.Marshal(&proc)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(procPath, pb, 0o600); err != nil {
		return nil, err
	}
	pidPath := filepath.Join(c.dir, "exec-"+execID+".pid")
	logPath := filepath.Join(c.dir, "exec-"+execID+".log")
	// runc's own errors (a missing executable) go to the log, apart from
	// the process's output, so Wait can tell them from an exit code.
	args := []string{"--root", filepath.Join(e.root, "runc"), "--log", logPath, "--log-format", "json",
		"exec", "--process", procPath, "--pid-file", pidPath, c.meta.ID}
	cmd := exec.CommandContext(ctx, e.runc, args...)
	p := &ExecProcess{cmd: cmd, done: make(chan struct{}), pidPath: pidPath}
	cleanup := func() {
		p.runtimeErr = shim.RuncError(logPath)
		os.Remove(procPath)
		os.Remove(pidPath)
		os.Remove(logPath)
	}
	var stdinW, slave *os.File
	if opts.Tty {
		// runc takes a console socket only when it detaches, and then the
		// exit status is lost. So runc runs in the foreground on a pty of
		// ours: it proxies it to the container's pty and copies our
		// window size on SIGWINCH (see Resize).
		if p.master, slave, err = pty.Open(); err != nil {
			cleanup()
			return nil, fmt.Errorf("exec: %w", err)
		}
		if opts.ConsoleWidth > 0 {
			pty.Setsize(p.master, &pty.Winsize{Cols: opts.ConsoleWidth, Rows: opts.ConsoleHeight})
		}
		// runc makes its terminal raw itself, but only once the
		// container's console is up: output that beats it would get a
		// second CR from our pty, and early input would be echoed.
		if err := makeRaw(slave); err != nil {
			cleanup()
			p.master.Close()
			slave.Close()
			return nil, fmt.Errorf("exec: %w", err)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	} else {
		if opts.Stdin != nil {
			r, w, err := os.Pipe()
			if err != nil {
				cleanup()
				return nil, err
			}
			cmd.Stdin, stdinW = r, w
			defer r.Close()
		}
		cmd.Stdout, cmd.Stderr = orDiscard(opts.Stdout), orDiscard(opts.Stderr)
	}
	if err := cmd.Start(); err != nil {
		cleanup()
		if p.master != nil {
			p.master.Close()
			slave.Close()
		}
		return nil, fmt.Errorf("exec: %w", err)
	}
	var copyDone sync.WaitGroup
	if p.master != nil {
		slave.Close()
		if opts.Stdin != nil {
			go io.Copy(p.master, opts.Stdin)
		}
		copyDone.Add(1)
		go func() {
			defer copyDone.Done()
			io.Copy(orDiscard(opts.Stdout), p.master) // ends with EIO when runc exits
		}()
	}
	if stdinW != nil {
		go func() {
			io.Copy(stdinW, opts.Stdin)
			stdinW.Close()
		}()
	}
	go func() {
		err := cmd.Wait()
		p.finish(err, &copyDone, cleanup)
	}()
	return p, nil
}

func (p *ExecProcess) finish(err error, copyDone *sync.WaitGroup, cleanup func()) {
	if p.master != nil {
		// The pty master returns EIO once the process side is gone;
		// wait for the output to drain before closing it.
		copyDone.Wait()
		p.master.Close()
	}
	cleanup()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		p.code = ee.ExitCode()
		if p.code < 0 {
			p.code = 137
		}
	default:
		p.err = err
	}
	if p.runtimeErr != "" {
		// The process never ran: docker's codes and the runtime's words.
		p.code = shim.StartFailureCode(p.runtimeErr)
		p.err = fmt.Errorf("OCI runtime exec failed: %s", p.runtimeErr)
	}
	close(p.done)
}

// makeRaw is cfmakeraw(3) on a terminal.
func makeRaw(f *os.File) error {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return fmt.Errorf("pty mode: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		return fmt.Errorf("pty mode: %w", err)
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Pid is the host PID of the exec'd process while it runs (0 if unknown).
func (p *ExecProcess) Pid() int {
	select {
	case <-p.done:
		return 0
	default:
	}
	b, err := os.ReadFile(p.pidPath)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Resize sets the pty size of a Tty exec.
func (p *ExecProcess) Resize(width, height uint16) error {
	if p.master == nil {
		return fmt.Errorf("%w: exec has no tty", ErrInvalid)
	}
	if err := shim.Resize(p.master, width, height); err != nil {
		return err
	}
	// runc copies its terminal's size to the container's on SIGWINCH.
	return p.cmd.Process.Signal(syscall.SIGWINCH)
}

// Wait blocks until the process exits and its output is copied, and
// returns its exit code. When the runtime could not start the process (a
// missing executable) the code is docker's 126/127 and the error carries
// the runtime's message.
func (p *ExecProcess) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.code, p.err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Done is closed once the process has exited.
func (p *ExecProcess) Done() <-chan struct{} { return p.done }
