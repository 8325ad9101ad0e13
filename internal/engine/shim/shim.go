package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from linux/prctl.h.
const prSetChildSubreaper = 36

// Main is the entry point of `berth __shim DIR`. fd 3 is the ready pipe:
// the shim writes "ok\n" once its socket listens, or an error line.
func Main() int {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: berth __shim DIR")
		return 2
	}
	dir := os.Args[2]
	ready := os.NewFile(3, "ready")
	fail := func(err error) int {
		if ready != nil {
			fmt.Fprintf(ready, "%v\n", err)
			ready.Close()
		}
		return 1
	}
	b, err := os.ReadFile(join(dir, "shim.json"))
	if err != nil {
		return fail(err)
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(fmt.Errorf("shim.json: %w", err))
	}
	// Orphans of the container (its init, once runc exits) are re-parented
	// to us, so we can wait4 the init and get its real exit status.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fail(fmt.Errorf("set subreaper: %w", errno))
	}
	logf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fail(err)
	}
	l, err := listenUnix(cfg.Socket)
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	s := &shim{
		cfg:     cfg,
		log:     &logWriter{w: logf},
		startCh: make(chan chan error, 1),
		started: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		clients: map[*client]bool{},
	}
	// Restarts are counted per shim; the engine adds up earlier shims'.
	s.state = State{Status: StatusCreated, ShimPid: os.Getpid()}
	// Until it runs, the container shows its last exit (docker start of an
	// exited container keeps ExitCode and FinishedAt until the new start).
	if old, err := ReadState(cfg.StatePath); err == nil {
		s.state.ExitCode, s.state.FinishedAt = old.ExitCode, old.FinishedAt
	}
	if err := s.saveLocked(); err != nil {
		return fail(err)
	}
	go s.serve(l)
	fmt.Fprintln(ready, "ok")
	ready.Close()
	ready = nil
	s.run()
	l.Close()
	waitTimeout(&s.inflight, 2*time.Second)
	return 0
}

type shim struct {
	cfg Config
	log *logWriter

	startCh chan chan error // the first "start" request
	started chan struct{}   // closed when the first run started (stdin is there)
	wake    chan struct{}   // interrupts a restart back-off

	// inflight counts request handlers, so the shim answers them all
	// (the start error, the last wait) before it exits.
	inflight sync.WaitGroup

	mu             sync.Mutex
	startRequested bool
	state          State
	stdin          *os.File // write end of the container's stdin, or the pty master
	master         *os.File
	clients        map[*client]bool
	waiters        []waiter
}

type waiter struct {
	after int
	ch    chan State
}

type client struct {
	conn           *os.File
	stdout, stderr bool
	mu             sync.Mutex
}

// saveLocked persists the state; callers hold s.mu (or are single-threaded).
func (s *shim) saveLocked() error { return WriteState(s.cfg.StatePath, &s.state) }

func (s *shim) serve(l *unixListener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go s.handle(conn)
	}
}

func reply(conn *os.File, resp Response) error {
	b, _ := json.Marshal(resp)
	_, err := conn.Write(append(b, '\n'))
	return err
}

func (s *shim) handle(conn *os.File) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(conn, Response{Error: "bad request: " + err.Error()})
		conn.Close()
		return
	}
	switch req.Op {
	case "start":
		errc := make(chan error, 1)
		s.mu.Lock()
		first := !s.startRequested
		s.startRequested = true
		s.mu.Unlock()
		if first {
			s.startCh <- errc
			err := <-errc
			s.mu.Lock()
			st := s.state
			s.mu.Unlock()
			resp := Response{State: &st}
			if err != nil {
				resp.Error = err.Error()
			}
			reply(conn, resp)
		} else {
			reply(conn, Response{Error: "already started"})
		}
		conn.Close()
	case "wait":
		ch := make(chan State, 1)
		s.mu.Lock()
		if s.state.Exits > req.After {
			ch <- s.state
		} else {
			s.waiters = append(s.waiters, waiter{req.After, ch})
		}
		s.mu.Unlock()
		st := <-ch
		reply(conn, Response{State: &st})
		conn.Close()
	case "attach":
		c := &client{conn: conn, stdout: req.Stdout, stderr: req.Stderr}
		s.mu.Lock()
		s.clients[c] = true
		s.mu.Unlock()
		if err := reply(conn, Response{}); err != nil {
			s.dropClient(c)
			return
		}
		if req.Stdin {
			go s.copyStdin(br)
		}
	case "resize":
		s.mu.Lock()
		m := s.master
		s.mu.Unlock()
		resp := Response{}
		if m == nil {
			resp.Error = "container has no tty"
		} else if err := Resize(m, req.Width, req.Height); err != nil {
			resp.Error = err.Error()
		}
		reply(conn, resp)
		conn.Close()
	case "kill":
		s.mu.Lock()
		if req.NoRestart && !s.state.StopRequested {
			s.state.StopRequested = true
			_ = s.saveLocked() // the flag matters only to this process
		}
		var err error
		if s.state.Status == StatusRunning && s.state.Pid > 0 && req.Signal > 0 {
			err = syscall.Kill(s.state.Pid, syscall.Signal(req.Signal))
		}
		st := s.state
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		resp := Response{State: &st}
		if err != nil {
			resp.Error = err.Error()
		}
		reply(conn, resp)
		conn.Close()
	default:
		reply(conn, Response{Error: "unknown op " + req.Op})
		conn.Close()
	}
}

// copyStdin forwards an attached client's input to the container.
func (s *shim) copyStdin(r io.Reader) {
	<-s.started
	s.mu.Lock()
	w := s.stdin
	s.mu.Unlock()
	if w == nil {
		return
	}
	io.Copy(w, r)
	if s.cfg.StdinOnce && !s.cfg.Tty {
		s.mu.Lock()
		if s.stdin == w {
			s.stdin.Close()
			s.stdin = nil
		}
		s.mu.Unlock()
	}
}

func (s *shim) dropClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	c.conn.Close()
}

// broadcast sends output to the attached clients; a client that cannot
// take it within a few seconds is dropped rather than stall the container.
func (s *shim) broadcast(stream byte, p []byte) {
	s.mu.Lock()
	var targets []*client
	for c := range s.clients {
		if (stream == 1 && c.stdout) || (stream == 2 && c.stderr) {
			targets = append(targets, c)
		}
	}
	s.mu.Unlock()
	hdr := make([]byte, 5)
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	for _, c := range targets {
		c.mu.Lock()
		c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := c.conn.Write(append(hdr[:5:5], p...))
		c.mu.Unlock()
		if err != nil {
			s.dropClient(c)
		}
	}
}

// pump copies one output stream to the log and the attached clients.
func (s *shim) pump(r io.Reader, stream byte, wg *sync.WaitGroup) {
	defer wg.Done()
	name := "stdout"
	if stream == 2 {
		name = "stderr"
	}
	ls := &lineSplitter{stream: name, log: s.log}
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			ls.Write(buf[:n])
			s.broadcast(stream, buf[:n])
		}
		if err != nil {
			break
		}
	}
	ls.flush()
}

// run waits for the start request, then runs the container until it exits
// for good (no restart due).
func (s *shim) run() {
	errc := <-s.startCh
	first := true
	backoff := 100 * time.Millisecond
	for {
		pid, wg, err := s.runOnce()
		if first {
			close(s.started)
		}
		if err != nil {
			s.mu.Lock()
			s.state.Status, s.state.Pid, s.state.Error = StatusExited, 0, err.Error()
			s.state.ExitCode = StartFailureCode(err.Error())
			s.state.FinishedAt = time.Now().UTC()
			s.state.Exits++
			s.saveLocked()
			s.notifyLocked()
			s.mu.Unlock()
			if first {
				errc <- err
			}
			s.closeClients()
			return
		}
		if first {
			errc <- nil
			first = false
		}
		ws := reap(pid)
		s.mu.Lock()
		s.state.Pid = -pid // reaped: no more signals to it
		s.mu.Unlock()
		waitTimeout(wg, 2*time.Second)
		oom := oomKilled(CgroupDir("memory", s.cfg.CgroupsPath))
		s.deleteRuntime()
		s.mu.Lock()
		ran := time.Since(s.state.StartedAt)
		s.state.Status, s.state.Pid = StatusExited, 0
		s.state.ExitCode, s.state.OOMKilled = exitCode(ws), oom
		s.state.FinishedAt = time.Now().UTC()
		s.state.Exits++
		restart := s.shouldRestartLocked()
		if restart {
			s.state.Status = StatusRestarting
		}
		s.saveLocked()
		s.notifyLocked()
		if s.stdin != nil {
			s.stdin.Close()
			s.stdin = nil
		}
		if s.master != nil {
			s.master.Close()
			s.master = nil
		}
		s.mu.Unlock()
		s.closeClients()
		if !restart {
			return
		}
		if ran > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-time.After(backoff):
		case <-s.wake:
		}
		backoff = min(backoff*2, time.Minute)
		s.mu.Lock()
		stop := s.state.StopRequested
		if stop {
			s.state.Status = StatusExited
		} else {
			s.state.RestartCount++
		}
		s.saveLocked()
		s.mu.Unlock()
		if stop {
			return
		}
	}
}

func (s *shim) shouldRestartLocked() bool {
	if s.state.StopRequested {
		return false
	}
	switch s.cfg.Restart {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return s.state.ExitCode != 0 && (s.cfg.MaxRetries == 0 || s.state.RestartCount < s.cfg.MaxRetries)
	}
	return false
}

func (s *shim) notifyLocked() {
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if s.state.Exits > w.after {
			w.ch <- s.state
		} else {
			kept = append(kept, w)
		}
	}
	s.waiters = kept
}

func (s *shim) closeClients() {
	s.mu.Lock()
	clients := s.clients
	s.clients = map[*client]bool{}
	s.mu.Unlock()
	for c := range clients {
		c.conn.Close()
	}
}

// deleteRuntime does what `runc delete` does for a stopped container,
// without another runc process on the exit path: the init is gone and, in
// its own PID namespace, took every process with it, so the cgroups are
// empty and only they and runc's state dir remain. If something still
// lives in the cgroup (a shared PID namespace), runc delete --force kills it.
func (s *shim) deleteRuntime() {
	if err := RemoveCgroup(s.cfg.CgroupsPath); err != nil {
		s.runc("delete", "--force", s.cfg.ID)
		return
	}
	os.RemoveAll(join(s.cfg.RuncRoot, s.cfg.ID))
}

func (s *shim) runc(args ...string) error {
	return run(s.cfg.Runc, append([]string{"--root", s.cfg.RuncRoot}, args...), nil, nil, nil)
}

// run runs a program to completion with the given stdio (nil: /dev/null).
// It uses os.StartProcess, not os/exec, for the reason in sock.go.
func run(path string, args []string, stdin, stdout, stderr *os.File) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	files := []*os.File{stdin, stdout, stderr}
	for i, f := range files {
		if f == nil {
			files[i] = devnull
		}
	}
	p, err := os.StartProcess(path, append([]string{path}, args...), &os.ProcAttr{Dir: "/", Files: files})
	if err != nil {
		return err
	}
	st, err := p.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return fmt.Errorf("%s %s: %s", path, args[len(args)-1], st)
	}
	return nil
}

// runOnce starts the container with one `runc run --detach` and starts
// the output pumps. It returns the init PID.
func (s *shim) runOnce() (int, *sync.WaitGroup, error) {
	logPath := join(s.cfg.Bundle, "runc.log")
	pidPath := join(s.cfg.Bundle, "init.pid")
	os.Remove(logPath)
	os.Remove(pidPath)
	args := []string{"--root", s.cfg.RuncRoot, "--log", logPath, "--log-format", "json",
		"run", "--detach", "--bundle", s.cfg.Bundle, "--pid-file", pidPath}
	var stdinR, stdoutW, stderrW *os.File
	var wg sync.WaitGroup
	var closeAfter []*os.File
	var stdin *os.File
	var cs *ConsoleSocket
	masterc := make(chan *os.File, 1)
	if s.cfg.Tty {
		var err error
		cs, err = NewConsoleSocket(strings.TrimSuffix(s.cfg.Socket, ".sock") + ".pty")
		if err != nil {
			return 0, nil, err
		}
		defer cs.Close()
		args = append(args, "--console-socket", cs.Path())
		go func() {
			m, err := cs.ReceiveMaster()
			if err != nil {
				m = nil
			}
			masterc <- m
		}()
	} else {
		outR, outW, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		stdoutW, stderrW = outW, errW
		closeAfter = append(closeAfter, outW, errW)
		wg.Add(2)
		go s.pump(outR, 1, &wg)
		go s.pump(errR, 2, &wg)
		if s.cfg.OpenStdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				return 0, nil, err
			}
			stdinR = inR
			closeAfter = append(closeAfter, inR)
			stdin = inW
		}
	}
	runErr := run(s.cfg.Runc, append(args, s.cfg.ID), stdinR, stdoutW, stderrW)
	for _, f := range closeAfter {
		f.Close()
	}
	var master *os.File
	if cs != nil {
		if runErr != nil {
			cs.Close()
		}
		master = <-masterc
	}
	if runErr != nil {
		if stdin != nil {
			stdin.Close()
		}
		if master != nil {
			master.Close()
		}
		msg := RuncError(logPath)
		if msg == "" {
			msg = runErr.Error()
		}
		s.runc("delete", "--force", s.cfg.ID)
		wg.Wait()
		return 0, nil, errors.New(msg)
	}
	b, err := os.ReadFile(pidPath)
	if err != nil {
		return 0, nil, fmt.Errorf("runc pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, nil, fmt.Errorf("runc pid file: %w", err)
	}
	if master != nil {
		stdin = master
		wg.Add(1)
		go s.pump(master, 1, &wg)
	}
	s.mu.Lock()
	s.stdin, s.master = stdin, master
	s.state.Status, s.state.Pid, s.state.Error = StatusRunning, pid, ""
	s.state.OOMKilled = false
	s.state.StartedAt = time.Now().UTC()
	s.saveLocked()
	s.mu.Unlock()
	return pid, &wg, nil
}

// RuncError digs the last error message out of a runc --log-format json log.
func RuncError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var msg string
	for _, line := range strings.Split(string(b), "\n") {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "error" {
			msg = l.Msg
		}
	}
	return msg
}

// StartFailureCode maps a runtime error to docker's exit codes: 127 for a
// missing executable, 126 for one that cannot run, 128 otherwise.
func StartFailureCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// reap waits for pid, reaping any other orphan that comes by.
func reap(pid int) syscall.WaitStatus {
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			// ECHILD: someone else reaped it; report it like a kill.
			return syscall.WaitStatus(uint32(syscall.SIGKILL))
		}
		if wpid == pid {
			return ws
		}
	}
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// oomKilled reads the v1 memory cgroup's oom_kill counter.
func oomKilled(dir string) bool {
	if dir == "" {
		return false
	}
	b, err := os.ReadFile(join(dir, "memory.oom_control"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n > 0
		}
	}
	return false
}
