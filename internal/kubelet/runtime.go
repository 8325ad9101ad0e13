package kubelet

import (
	"context"
	"errors"
	"io"
	"time"
)

// Runtime is the part of the container engine the kubelet uses. The
// kubelet declares it (the consumer owns the interface), cmd/berth adapts
// the real engine to it, and unit tests fake it.
type Runtime interface {
	// ImageID returns the ID of a local image, or ErrImageNotPresent.
	ImageID(ctx context.Context, ref string) (string, error)
	// PullImage pulls ref (registry mirrors apply) and returns its ID and
	// size in bytes. The error message is the registry's, shown to users.
	PullImage(ctx context.Context, ref string) (id string, size int64, err error)
	// CreateContainer creates (not starts) a container.
	CreateContainer(ctx context.Context, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container. The error is the
	// runtime's message (for example an executable that is not found).
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal, waits grace, then SIGKILL.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a container, killing it first. Missing is fine.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers returns every container (running or not) that has all
	// of labels.
	ListContainers(ctx context.Context, labels map[string]string) ([]ContainerInfo, error)
	// Logs writes a container's log entries to stdout/stderr as options select.
	Logs(ctx context.Context, id string, opts LogOptions, w LogWriter) error
	// Exec runs a process in a running container and returns its exit code.
	Exec(ctx context.Context, id string, opts ExecOptions) (int, error)
	// Attach connects to the stdio of a running container until ctx ends
	// or the container exits.
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) error
	// Stats reads a container's cgroup counters.
	Stats(ctx context.Context, id string) (ContainerStats, error)
}

// ErrImageNotPresent is returned by Runtime.ImageID for an image that must
// be pulled.
var ErrImageNotPresent = errors.New("kubelet: image not present")

// ContainerConfig is what the kubelet asks the runtime to create.
type ContainerConfig struct {
	Name                string
	Hostname            string // for $HOSTNAME; the UTS namespace already has it
	Image               string
	Entrypoint          []string // nil keeps the image's
	Cmd                 []string // nil keeps the image's (when Entrypoint is nil)
	Env                 []string // KEY=VALUE
	WorkingDir          string
	User                string // "uid" or "uid:gid"
	SupplementaryGroups []uint32
	Labels              map[string]string
	Tty                 bool
	Stdin               bool
	StdinOnce           bool
	Mounts              []Mount
	// Namespaces to join (pinned paths); the PID namespace stays private.
	NetNS, IPCNS, UTSNS                     string
	HostsPath, ResolvConfPath, HostnamePath string
	CgroupParent                            string
	MemoryLimit                             int64 // bytes, 0 = none
	CPUShares                               uint64
	CPUQuota                                int64 // µs per 100 ms period, 0 = none
	CapAdd, CapDrop                         []string
	Privileged                              bool
	ReadonlyRootfs                          bool
	// StopSignal is empty for the image's.
	StopSignal string
}

// Mount is a bind or tmpfs mount into a container.
type Mount struct {
	Type        string // "bind" or "tmpfs"
	Source      string
	Destination string
	ReadOnly    bool
	Options     []string
}

// ContainerInfo is a container as the runtime reports it.
type ContainerInfo struct {
	ID      string
	Name    string
	Labels  map[string]string
	Image   string
	ImageID string
	State   ContainerState
	Created time.Time
	// CgroupsPath is the container's cgroupfs path, for stats.
	CgroupsPath string
}

// ContainerState is a container's process state.
type ContainerState struct {
	Running    bool
	Created    bool // created and never started
	ExitCode   int
	OOMKilled  bool
	Error      string // the runtime's message when the start failed
	StartedAt  time.Time
	FinishedAt time.Time
}

// LogOptions select log entries (see the pods/log query parameters).
type LogOptions struct {
	Follow    bool
	Tail      int // < 0 means all
	Since     time.Time
	Timestamp bool
}

// LogWriter receives log entries one at a time.
type LogWriter func(stream string, t time.Time, line []byte) error

// ExecOptions describe a process run in a container.
type ExecOptions struct {
	Cmd            []string
	Tty            bool
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Width, Height  uint16
	// Resize delivers terminal size changes of a Tty session; nil for none.
	Resize <-chan TermSize
}

// TermSize is a terminal size in characters.
type TermSize struct{ Width, Height uint16 }

// ContainerStats are cgroup readings.
type ContainerStats struct {
	Time             time.Time
	CPUUsageNanos    uint64
	MemoryUsage      uint64
	MemoryWorkingSet uint64
	MemoryRSS        uint64
	PageFaults       uint64
	MajorPageFaults  uint64
}
