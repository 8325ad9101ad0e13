package dockerapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/engine"
)

// execInstance is one `docker exec`: created by POST /containers/{id}/exec,
// run by POST /exec/{id}/start, read by GET /exec/{id}/json. Instances live
// in memory only, as in dockerd, which also forgets them on restart.
type execInstance struct {
	id          string
	containerID string
	cfg         execConfig

	mu       sync.Mutex
	proc     *engine.ExecProcess
	running  bool
	started  bool
	exitCode *int
}

type execs struct {
	mu sync.Mutex
	m  map[string]*execInstance
}

func (e *execs) get(id string) (*execInstance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[id]
	if !ok {
		return nil, notFound("No such exec instance: %s", id)
	}
	return x, nil
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var cfg execConfig
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		return badRequest("invalid exec configuration: %v", err)
	}
	if len(cfg.Cmd) == 0 {
		return badRequest("No exec command specified")
	}
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	if !c.State.Running {
		return conflict("Container %s is not running", c.ID)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	x := &execInstance{id: hex.EncodeToString(b), containerID: c.ID, cfg: cfg}
	s.execs.mu.Lock()
	s.execs.m[x.id] = x
	s.execs.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"Id": x.id})
	return nil
}

// execStart runs the exec. Attached (the CLI's default) it hijacks the
// connection for the process's stdio and returns when the process exits.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	x, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	var sc execStartConfig
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&sc); err != nil {
			return badRequest("invalid exec start configuration: %v", err)
		}
	}
	x.mu.Lock()
	if x.started {
		x.mu.Unlock()
		return conflict("exec %s has already been started", x.id)
	}
	x.started = true
	x.mu.Unlock()

	tty := x.cfg.Tty || sc.Tty
	opts := engine.ExecOptions{Cmd: x.cfg.Cmd, Env: x.cfg.Env, WorkingDir: x.cfg.WorkingDir, User: x.cfg.User,
		Tty: tty, Privileged: x.cfg.Privileged}
	if size := x.cfg.ConsoleSize; size != nil && size[0] > 0 {
		opts.ConsoleHeight, opts.ConsoleWidth = uint16(size[0]), uint16(size[1])
	}
	if sc.Detach {
		proc, err := s.eng.Exec(s.baseCtx, x.containerID, opts)
		if err != nil {
			return noSuchContainer(x.containerID, err)
		}
		x.setProc(proc)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			code, err := proc.Wait(s.baseCtx)
			if err != nil && code <= 0 {
				code = 126
			}
			s.finishExec(x, code)
		}()
		w.WriteHeader(http.StatusOK)
		return nil
	}
	conn, err := hijack(w, r, tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	stdout, stderr := outputs(conn, tty)
	if x.cfg.AttachStdout || tty {
		opts.Stdout = stdout
	}
	if x.cfg.AttachStderr && !tty {
		opts.Stderr = stderr
	}
	if x.cfg.AttachStdin {
		opts.Stdin = conn
	}
	ctx, cancel := context.WithCancel(s.baseCtx)
	defer cancel()
	proc, err := s.eng.Exec(ctx, x.containerID, opts)
	if err != nil {
		// The stream is already ours: report like dockerd does, in it.
		fmt.Fprintf(stderr, "OCI runtime exec failed: %v\r\n", err)
		code := 126
		if errors.Is(err, engine.ErrNotRunning) {
			code = 1
		}
		s.finishExec(x, code)
		conn.CloseWrite()
		return nil
	}
	x.setProc(proc)
	code, err := proc.Wait(ctx)
	// A runtime failure (missing executable) comes with docker's 126/127
	// and the runtime's message already on the stream; other errors are
	// berth's to report.
	if err != nil && code <= 0 {
		if ctx.Err() == nil {
			fmt.Fprintf(stderr, "exec: %v\r\n", err)
		}
		code = 126
	}
	// Recorded before the stream ends: the CLI asks /exec/{id}/json for the
	// exit code as soon as it sees EOF.
	s.finishExec(x, code)
	conn.CloseWrite()
	return nil
}

func (x *execInstance) setProc(p *engine.ExecProcess) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.proc, x.running = p, true
}

// execRetention is how long a finished exec stays inspectable; the CLI
// reads the exit code right after the stream ends.
const execRetention = 10 * time.Minute

func (x *execInstance) setExit(code int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.running, x.exitCode = false, &code
}

// finish records the exit and forgets the instance after execRetention.
func (s *Server) finishExec(x *execInstance, code int) {
	x.setExit(code)
	time.AfterFunc(execRetention, func() {
		s.execs.mu.Lock()
		delete(s.execs.m, x.id)
		s.execs.mu.Unlock()
	})
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	x, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	x.mu.Lock()
	proc := x.proc
	x.mu.Unlock()
	if proc == nil {
		// The CLI resizes right after start and retries on error.
		return conflict("exec %s is not running", x.id)
	}
	if err := proc.Resize(wd, h); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	x, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	pid := 0
	if x.proc != nil && x.running {
		pid = x.proc.Pid()
	}
	var args []string
	if len(x.cfg.Cmd) > 1 {
		args = x.cfg.Cmd[1:]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ID": x.id, "Running": x.running, "ExitCode": x.exitCode, "ContainerID": x.containerID,
		"OpenStdin": x.cfg.AttachStdin, "OpenStdout": x.cfg.AttachStdout, "OpenStderr": x.cfg.AttachStderr,
		"CanRemove": !x.running && x.started, "DetachKeys": x.cfg.DetachKeys, "Pid": pid,
		"ProcessConfig": map[string]any{"tty": x.cfg.Tty, "entrypoint": x.cfg.Cmd[0], "arguments": args,
			"privileged": x.cfg.Privileged, "user": x.cfg.User},
	})
	return nil
}
