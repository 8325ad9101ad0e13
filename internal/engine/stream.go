package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// pendingAttach is an Attach that waits for the container's next start.
type pendingAttach struct {
	opts AttachOptions
	done chan error // receives the attach's final result
	ctx  context.Context
}

// connect is called by Start before the process runs.
func (p *pendingAttach) connect(e *Engine, id string) {
	conn, br, err := e.attachConn(p.ctx, id, p.opts)
	if err != nil {
		p.fail(err)
		return
	}
	go func() { p.done <- pipeAttach(p.ctx, conn, br, p.opts) }()
}

func (p *pendingAttach) fail(err error) { p.done <- err }

// Attach connects streams to the container's stdio and blocks until the
// container's output ends (it exits) or ctx is done. Attaching to a
// container that is not running waits for its next Start, and sees all of
// that run's output (docker run and start -a do this).
func (e *Engine) Attach(ctx context.Context, ref string, opts AttachOptions) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock() // not concurrently with Start's hand-over of pending attaches
	st := c.state()
	if st.Status == shim.StatusRunning {
		c.op.Unlock()
		conn, br, err := e.attachConn(ctx, c.meta.ID, opts)
		if err != nil {
			return err
		}
		return pipeAttach(ctx, conn, br, opts)
	}
	p := &pendingAttach{opts: opts, done: make(chan error, 1), ctx: ctx}
	c.mu.Lock()
	c.pending = append(c.pending, p)
	c.mu.Unlock()
	c.op.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		for i, q := range c.pending {
			if q == p {
				c.pending = append(c.pending[:i], c.pending[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

func (e *Engine) attachConn(ctx context.Context, id string, opts AttachOptions) (net.Conn, *bufio.Reader, error) {
	conn, br, resp, err := e.shimDial(ctx, id, shim.Request{Op: "attach",
		Stdin: opts.Stdin != nil, Stdout: opts.Stdout != nil, Stderr: opts.Stderr != nil})
	if err != nil {
		return nil, nil, fmt.Errorf("attach: %w", err)
	}
	if resp.Error != "" {
		conn.Close()
		return nil, nil, fmt.Errorf("attach: %s", resp.Error)
	}
	return conn, br, nil
}

// pipeAttach copies frames from the shim to the writers and stdin to the shim.
func pipeAttach(ctx context.Context, conn net.Conn, br *bufio.Reader, opts AttachOptions) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if opts.Stdin != nil {
		go func() {
			io.Copy(conn, opts.Stdin)
			if uc, ok := conn.(*net.UnixConn); ok {
				uc.CloseWrite()
			}
		}()
	}
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil // the shim closed: the container's output ended
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		w := opts.Stdout
		if hdr[0] == 2 {
			w = opts.Stderr
		}
		if w == nil {
			w = io.Discard
		}
		if _, err := io.CopyN(w, br, int64(n)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("attach: %w", err)
		}
	}
}

// Resize sets the TTY size of a running container started with Tty.
func (e *Engine) Resize(ctx context.Context, ref string, width, height uint16) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	_, err = e.shimCall(ctx, c.meta.ID, shim.Request{Op: "resize", Width: width, Height: height})
	if isNoShim(err) {
		return fmt.Errorf("%w: %s", ErrNotRunning, c.meta.ID[:12])
	}
	return err
}

// Logs calls fn for each log entry selected by opts, oldest first. With
// Follow it keeps going until the container is stopped for good (not
// restarting) and the log is drained, or ctx is done. fn's error stops it
// and is returned.
func (e *Engine) Logs(ctx context.Context, ref string, opts LogOptions, fn func(LogEntry) error) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	return followLog(ctx, c.logPath(), opts, func() bool {
		st := c.state()
		return st.Status == shim.StatusRunning || st.Status == shim.StatusRestarting
	}, fn)
}

// LogsFromFile reads a json-file log of a container that may be gone
// (the kubelet's previous instance), with the same options as Logs
// (Follow is ignored).
func LogsFromFile(ctx context.Context, path string, opts LogOptions, fn func(LogEntry) error) error {
	opts.Follow = false
	return followLog(ctx, path, opts, func() bool { return false }, fn)
}

func followLog(ctx context.Context, path string, opts LogOptions, alive func() bool, fn func(LogEntry) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if !opts.Follow {
			return nil
		}
		// The container has not written yet: create nothing, just wait.
		if f, err = waitCreate(ctx, path, alive); err != nil || f == nil {
			return err
		}
	} else if err != nil {
		return err
	}
	defer f.Close()
	want := func(le *LogEntry) bool {
		if (opts.Stdout || opts.Stderr) && !(opts.Stdout && le.Stream == "stdout" || opts.Stderr && le.Stream == "stderr") {
			return false
		}
		if !opts.Since.IsZero() && le.Time.Before(opts.Since) {
			return false
		}
		if !opts.Until.IsZero() && le.Time.After(opts.Until) {
			return false
		}
		return true
	}
	r := bufio.NewReaderSize(f, 64*1024)
	readLine := func() (*LogEntry, error) {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if len(line) > 0 {
				// A line being written: keep it for the next read.
				if _, serr := f.Seek(-int64(len(line)), io.SeekCurrent); serr != nil {
					return nil, serr
				}
				r.Reset(f)
			}
			return nil, err
		}
		var l shim.LogLine
		if err := json.Unmarshal(line, &l); err != nil {
			return &LogEntry{}, nil // a torn line after a crash: skip it
		}
		return &LogEntry{Stream: l.Stream, Time: l.Time, Line: []byte(l.Log)}, nil
	}
	// Tail: collect the selected entries first, keep the last N.
	if opts.TailSet && opts.Tail >= 0 {
		var ring []LogEntry
		for {
			le, err := readLine()
			if err != nil {
				break
			}
			if le.Stream != "" && want(le) {
				ring = append(ring, *le)
				if len(ring) > opts.Tail {
					ring = ring[1:]
				}
			}
		}
		for _, le := range ring {
			if err := fn(le); err != nil {
				return err
			}
		}
	}
	var in int = -1
	if opts.Follow {
		if in, err = unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK); err != nil {
			return fmt.Errorf("logs: inotify: %w", err)
		}
		defer unix.Close(in)
		if _, err := unix.InotifyAddWatch(in, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
			return fmt.Errorf("logs: inotify: %w", err)
		}
	}
	for {
		le, err := readLine()
		if err == nil {
			if le.Stream != "" && want(le) {
				if err := fn(*le); err != nil {
					return err
				}
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		if !opts.Follow {
			return nil
		}
		if !alive() {
			// Drain what the shim wrote before it stopped, then end.
			for {
				le, err := readLine()
				if err != nil {
					return nil
				}
				if le.Stream != "" && want(le) {
					if err := fn(*le); err != nil {
						return err
					}
				}
			}
		}
		if err := waitInotify(ctx, in, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitInotify blocks until the watched file changes, ctx is done, or d
// passes (the caller then re-checks whether the container still runs).
func waitInotify(ctx context.Context, fd int, d time.Duration) error {
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ms := min(time.Until(deadline), 100*time.Millisecond)
		if ms <= 0 {
			return nil
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(ms.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if n > 0 {
			unix.Read(fd, buf) // drain the events; only "something changed" matters
			return nil
		}
	}
}

// waitCreate waits for a log file to appear while the container lives.
func waitCreate(ctx context.Context, path string, alive func() bool) (*os.File, error) {
	for {
		f, err := os.Open(path)
		if err == nil {
			return f, nil
		}
		if !alive() {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
