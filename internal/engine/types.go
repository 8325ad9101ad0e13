package engine

import (
	"errors"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sentinel errors; wrapped errors carry the name that was looked up, test
// with errors.Is.
var (
	ErrImageNotFound     = errors.New("engine: no such image")
	ErrContainerNotFound = errors.New("engine: no such container")
	ErrNameInUse         = errors.New("engine: container name already in use")
	ErrRunning           = errors.New("engine: container is running")
	ErrNotRunning        = errors.New("engine: container is not running")
	ErrImageInUse        = errors.New("engine: image is in use by a container")
	ErrAmbiguous         = errors.New("engine: ambiguous id prefix")
	ErrInvalid           = errors.New("engine: invalid argument")
)

// Image is one image in the store.
type Image struct {
	// ID is the config digest, "sha256:<hex>", as docker shows it.
	ID string
	// RepoTags are familiar names with tags ("busybox:latest").
	RepoTags []string
	// RepoDigests are familiar names with the manifest digest, for images
	// that were pulled or pushed ("kubetm/hello@sha256:...").
	RepoDigests []string
	// ManifestDigest is the digest of the stored manifest.
	ManifestDigest string
	// Created is the config's creation time.
	Created time.Time
	// Size is the sum of the uncompressed layer sizes in bytes.
	Size int64
	// Config is the image config file (config, rootfs diff IDs, history).
	Config v1.ConfigFile
}

// HistoryEntry is one line of `docker history`, newest first.
type HistoryEntry struct {
	ID        string // image ID for the top entry, "<missing>" otherwise
	Created   time.Time
	CreatedBy string
	Comment   string
	Size      int64 // bytes of the layer this step made; 0 for empty layers
	Tags      []string
}

// RemovedImage reports what RemoveImage did, like docker's rmi output.
type RemovedImage struct {
	Untagged []string // familiar references that were removed
	Deleted  []string // image IDs whose content was deleted
}

// ImportOptions describe `docker import` of a rootfs tar.
type ImportOptions struct {
	// Ref tags the new image; empty leaves it untagged.
	Ref string
	// Config is the image config to record (already merged with --change
	// instructions by the caller); nil records an empty config.
	Config *v1.Config
	// Comment goes into the history entry (`docker import -m`).
	Comment string
}

// ProgressFunc receives pull/push progress. It must not block.
type ProgressFunc func(Progress)

// Progress is one progress report, shaped after docker's JSON messages.
type Progress struct {
	ID      string // short layer digest, or the reference for whole-image lines
	Status  string // "Pulling fs layer", "Already exists", "Pull complete", "Pushed", ...
	Current int64
	Total   int64
}

// Credentials authenticate to a registry; nil means anonymous (or the
// credentials in registries.yaml).
type Credentials struct {
	Username      string
	Password      string
	Auth          string // base64 user:password
	IdentityToken string
	RegistryToken string
}

// PullOptions control Pull.
type PullOptions struct {
	// Credentials override registries.yaml for the registry being contacted.
	Credentials *Credentials
	// Keychain is asked for hosts that have neither Credentials nor
	// registries.yaml credentials (authn.DefaultKeychain reads
	// ~/.docker/config.json; the kubelet can wrap imagePullSecrets).
	Keychain authn.Keychain
	Progress ProgressFunc
}

// PushOptions control Push.
type PushOptions struct {
	Credentials *Credentials
	Keychain    authn.Keychain
	Progress    ProgressFunc
}

// CommitOptions describe a new image made from a parent and one (optional) layer.
type CommitOptions struct {
	// Ref tags the new image; empty leaves it untagged.
	Ref string
	// Config replaces the parent's config; nil keeps it.
	Config *v1.Config
	// CreatedBy, Comment and Author go into the new history entry.
	CreatedBy string
	Comment   string
	Author    string
	// Created is the timestamp of the new image; zero means now.
	Created time.Time
}

// Container states as docker names them.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// Namespace modes for ContainerSpec's namespace fields: empty makes a new
// private namespace, NamespaceHost shares the host's, anything else is the
// path of a namespace to join (/proc/PID/ns/net, /run/netns/NAME).
const (
	NamespacePrivate = ""
	NamespaceHost    = "host"
	// NetworkNone is accepted for NetNS and means a private namespace with
	// only loopback, as docker's --network none.
	NetworkNone = "none"
)

// Mount is a mount into the container.
type Mount struct {
	// Type is "bind" (Source is a host path) or "tmpfs" (Source ignored).
	Type        string
	Source      string
	Destination string
	ReadOnly    bool
	// Options are extra mount options ("size=64m", "mode=1777", "rprivate").
	Options []string
}

// Resources are cgroup limits; zero values mean unlimited.
type Resources struct {
	Memory     int64  // bytes
	MemorySwap int64  // bytes of memory+swap; 0 = same as Memory (no swap), -1 = unlimited
	CPUShares  uint64 // relative weight (cpu.shares)
	CPUQuota   int64  // microseconds per CPUPeriod
	CPUPeriod  uint64 // microseconds; default 100000 when CPUQuota or NanoCPUs is set
	NanoCPUs   int64  // docker --cpus in units of 1e-9 CPUs; converted to quota/period
	PidsLimit  int64
	CpusetCpus string
}

// RestartPolicy is docker's --restart.
type RestartPolicy struct {
	Name              string // "", "no", "always", "on-failure", "unless-stopped"
	MaximumRetryCount int    // on-failure only; 0 = unlimited
}

// ContainerSpec is what Create needs. Fields left empty take the image's
// value (Cmd, Entrypoint, Env, WorkingDir, User) or docker's default.
type ContainerSpec struct {
	// Name must be unique; empty generates one like docker ("berth_<id[:8]>").
	Name string
	// Image is a reference or ID; empty means an empty rootfs (FROM scratch).
	Image string
	// Entrypoint and Cmd follow docker: nil keeps the image's; a non-nil
	// Entrypoint also drops the image's Cmd unless Cmd is given.
	Entrypoint []string
	Cmd        []string
	// Env entries KEY=VALUE override the image's.
	Env        []string
	WorkingDir string
	// User is docker's --user: "name", "uid", "uid:gid", "name:group";
	// resolved against the container's /etc/passwd and /etc/group.
	User             string
	AdditionalGroups []uint32
	Labels           map[string]string
	// Annotations are kept with the container and returned, never
	// interpreted: callers store their own data (port bindings, pod UID).
	Annotations  map[string]string
	ExposedPorts []string // "80/tcp"; recorded only
	Hostname     string   // default: first 12 characters of the ID
	Domainname   string
	Tty          bool
	OpenStdin    bool
	StdinOnce    bool
	Mounts       []Mount
	Resources    Resources
	// CgroupParent is a cgroupfs path ("/berth-xxxx/kubepods/pod<uid>");
	// empty means the engine's own parent (see Engine.CgroupRoot).
	CgroupParent string
	NetNS        string // see the Namespace constants; also NetworkNone
	IPCNS        string
	UTSNS        string
	PIDNS        string
	// HostsPath, ResolvConfPath and HostnamePath are host files bind-mounted
	// to /etc/hosts, /etc/resolv.conf and /etc/hostname; empty ones are made
	// by the engine (localhost + hostname, a copy of the host's resolv.conf).
	HostsPath      string
	ResolvConfPath string
	HostnamePath   string
	CapAdd         []string // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL"
	CapDrop        []string
	Privileged     bool
	ReadonlyRootfs bool
	// NoNewPrivileges sets the no_new_privs bit for the container process.
	NoNewPrivileges bool
	Sysctls         map[string]string
	ShmSize         int64 // bytes of /dev/shm; default 64 MiB
	OOMScoreAdj     int   // must be >= 0 on this host class (negative is refused)
	RestartPolicy   RestartPolicy
	// AutoRemove removes the container once it exits (docker run --rm).
	AutoRemove bool
	// StopSignal overrides the image's (default SIGTERM); "SIGQUIT" or "3".
	StopSignal string
	// StopTimeout is the default grace period of Stop; nil means 10 s.
	StopTimeout *int
}

// ContainerState is the runtime state, docker's State object.
type ContainerState struct {
	Status     string // StatusCreated, StatusRunning, ...
	Running    bool
	Restarting bool
	Pid        int // container init's host PID while running
	ExitCode   int
	OOMKilled  bool
	// Error is the runtime's message when the start failed (for example
	// `exec: "nope": executable file not found in $PATH`).
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Container is one container with its effective configuration.
type Container struct {
	ID      string
	Name    string
	Image   string // the reference given to Create
	ImageID string // "sha256:..." or "" for scratch
	Created time.Time
	Spec    ContainerSpec
	// Path and Args are the effective process (entrypoint + cmd).
	Path string
	Args []string
	// Env, WorkingDir and User are the effective values after merging the image config.
	Env          []string
	WorkingDir   string
	User         string
	State        ContainerState
	RestartCount int
	// LogPath is the json-file log: one JSON object per line with "log",
	// "stream" ("stdout"/"stderr") and "time" (RFC 3339 nano), like docker's.
	LogPath string
	// Rootfs is the mounted overlay (the container's /); UpperDir holds the
	// changes made in it (what Commit turns into a layer).
	Rootfs   string
	UpperDir string
	// CgroupsPath is the cgroupfs path of the container ("/berth-xxxx/<id>").
	CgroupsPath string
	// ShimPid is the PID of the shim while one runs.
	ShimPid int
}

// ListOptions filter List.
type ListOptions struct {
	// All includes containers that are not running.
	All bool
	// Labels selects containers that have every one of these labels.
	Labels map[string]string
}

// StopOptions control Stop.
type StopOptions struct {
	// Timeout is the grace period before SIGKILL; nil uses the container's
	// StopTimeout (default 10 s). Zero kills at once.
	Timeout *time.Duration
	// Signal overrides the container's stop signal.
	Signal string
}

// RemoveOptions control RemoveContainer.
type RemoveOptions struct {
	// Force kills a running container first.
	Force bool
}

// WaitCondition chooses when Wait returns, as docker's wait conditions.
type WaitCondition string

const (
	// WaitNotRunning returns at once for a container that is not running,
	// else at its next exit.
	WaitNotRunning WaitCondition = "not-running"
	// WaitNextExit returns at the next exit, even if it has not started yet.
	WaitNextExit WaitCondition = "next-exit"
	// WaitRemoved returns once the container has been removed.
	WaitRemoved WaitCondition = "removed"
)

// LogOptions select log entries.
type LogOptions struct {
	// Follow keeps streaming new entries until the container stops (and
	// stays stopped) or ctx is done.
	Follow bool
	// With TailSet and Tail >= 0, only the last Tail selected entries
	// (0: none) come before following; otherwise all of them.
	Tail    int
	TailSet bool
	// Since and Until filter by entry time (zero = no bound).
	Since time.Time
	Until time.Time
	// Stdout and Stderr select streams; both false means both.
	Stdout bool
	Stderr bool
}

// LogEntry is one line (or a partial write) of container output.
type LogEntry struct {
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Line   []byte // includes the trailing newline when there was one
}

// AttachOptions connect to a container's stdio. Nil streams are not attached.
// With a TTY, all output arrives on Stdout.
type AttachOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// DetachKeys is not supported; closing Stdin or canceling ctx detaches.
}

// ExecOptions describe a process to run in a running container.
type ExecOptions struct {
	Cmd        []string
	Env        []string // added to the container's env
	WorkingDir string   // default: the container's
	User       string   // default: the container's
	Tty        bool
	Privileged bool
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer // ignored with Tty
	// ConsoleWidth/Height set the initial TTY size.
	ConsoleWidth, ConsoleHeight uint16
}

// Stats are cgroup readings of one container.
type Stats struct {
	Read time.Time
	// CPU
	CPUUsageTotal    uint64 // ns, cpuacct.usage
	CPUUsagePerCPU   []uint64
	CPUUsageUser     uint64 // ns
	CPUUsageSystem   uint64 // ns
	SystemCPUUsage   uint64 // ns of host CPU time (from /proc/stat), for docker's percentage
	OnlineCPUs       int
	ThrottledPeriods uint64
	ThrottledTime    uint64 // ns
	Periods          uint64
	MemoryUsage      uint64 // bytes, memory.usage_in_bytes
	MemoryMaxUsage   uint64
	MemoryLimit      uint64
	MemoryFailcnt    uint64
	MemoryStat       map[string]uint64 // memory.stat
	OOMKills         uint64
	PidsCurrent      uint64
	PidsLimit        uint64
}
