// Package shim is the per-container supervisor: the berth binary
// re-executed as `berth __shim DIR`. It runs `runc run --detach`, holds the
// container's stdio (pipes or the pty master), writes the json-file log,
// reaps the container's init (it is a child subreaper), records the exit
// code, OOM kill and times in DIR/state.json, applies docker's restart
// policy, and serves a unix socket for start, wait, attach, resize and
// kill. It outlives the engine, so containers keep running and logging
// while berth restarts. It must stay small: it imports nothing of berth.
package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is DIR/shim.json, written by the engine before it starts the shim.
type Config struct {
	ID        string `json:"id"`
	Bundle    string `json:"bundle"` // dir with config.json
	Runc      string `json:"runc"`
	RuncRoot  string `json:"runcRoot"`
	Tty       bool   `json:"tty"`
	OpenStdin bool   `json:"openStdin"`
	StdinOnce bool   `json:"stdinOnce"`
	LogPath   string `json:"logPath"`
	StatePath string `json:"statePath"`
	Socket    string `json:"socket"`
	// CgroupsPath is the container's cgroupfs path; the shim reads the
	// OOM-kill counter there and removes the cgroups after the exit.
	CgroupsPath string `json:"cgroupsPath"`
	// Restart is docker's policy name ("no", "always", "on-failure",
	// "unless-stopped") and MaxRetries its on-failure limit (0 = none).
	Restart    string `json:"restart"`
	MaxRetries int    `json:"maxRetries"`
}

// Status values in State, docker's names.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
)

// State is DIR/state.json, written atomically by the shim on every change.
type State struct {
	Status     string    `json:"status"`
	Pid        int       `json:"pid,omitempty"`
	ShimPid    int       `json:"shimPid,omitempty"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Exits counts the exits this shim has seen; wait requests use it to
	// never miss one between two connections.
	Exits         int  `json:"exits"`
	RestartCount  int  `json:"restartCount"`
	StopRequested bool `json:"stopRequested,omitempty"`
}

// Request is the first line (JSON) a client sends on a new connection.
type Request struct {
	// Op is one of "start", "wait", "attach", "resize", "kill".
	Op string `json:"op"`
	// After (wait): return once State.Exits > After.
	After int `json:"after,omitempty"`
	// Stdin, Stdout, Stderr (attach): which streams to connect. Output
	// comes as frames: 1 byte stream (1 stdout, 2 stderr), 4 bytes
	// big-endian length, data. Bytes the client sends go to stdin; a
	// half-close of the client's write side closes stdin if StdinOnce.
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
	// Width, Height (resize).
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
	// Signal (kill) and NoRestart: the engine stopping the container on
	// purpose, which turns the restart policy off (docker stop semantics).
	Signal    int  `json:"signal,omitempty"`
	NoRestart bool `json:"noRestart,omitempty"`
}

// Response is the JSON line the shim answers with (for attach, before the
// frames start).
type Response struct {
	Error string `json:"error,omitempty"`
	State *State `json:"state,omitempty"`
}

// ReadState reads a state file.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// WriteState writes a state file so readers see the old or the new one.
func WriteState(path string, st *State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	i := strings.LastIndexByte(path, '/')
	tmp := path[:i+1] + "." + path[i+1:] + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteConfig writes DIR/shim.json.
func WriteConfig(path string, c *Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
