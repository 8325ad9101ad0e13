package dockerapi

import (
	"context"
	"io"
	"log/slog"
	"syscall"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/build"
)

// Engine is what the Docker API needs from the container engine.
type Engine interface {
	Images(ctx context.Context) ([]engine.Image, error)
	Image(ctx context.Context, ref string) (*engine.Image, error)
	Tag(ctx context.Context, src, target string) error
	History(ctx context.Context, ref string) ([]engine.HistoryEntry, error)
	RemoveImage(ctx context.Context, ref string, force bool) (*engine.RemovedImage, error)
	ImportRootfs(ctx context.Context, r io.Reader, opts engine.ImportOptions) (*engine.Image, error)
	Load(ctx context.Context, r io.Reader) ([]string, error)
	Save(ctx context.Context, w io.Writer, refs []string) error
	Pull(ctx context.Context, ref string, opts engine.PullOptions) (*engine.Image, error)
	Push(ctx context.Context, ref string, opts engine.PushOptions) (string, error)
	Commit(ctx context.Context, id string, opts engine.CommitOptions) (*engine.Image, error)

	Create(ctx context.Context, spec engine.ContainerSpec) (*engine.Container, error)
	Container(ctx context.Context, ref string) (*engine.Container, error)
	List(ctx context.Context, opts engine.ListOptions) ([]engine.Container, error)
	Start(ctx context.Context, ref string) error
	Stop(ctx context.Context, ref string, opts engine.StopOptions) error
	Restart(ctx context.Context, ref string, opts engine.StopOptions) error
	Kill(ctx context.Context, ref string, sig syscall.Signal) error
	RemoveContainer(ctx context.Context, ref string, opts engine.RemoveOptions) error
	Rename(ctx context.Context, ref, newName string) error
	Wait(ctx context.Context, ref string, cond engine.WaitCondition) (*engine.ContainerState, error)
	WaitChan(ctx context.Context, ref string, cond engine.WaitCondition) (<-chan engine.WaitResult, error)
	Logs(ctx context.Context, ref string, opts engine.LogOptions, fn func(engine.LogEntry) error) error
	Attach(ctx context.Context, ref string, opts engine.AttachOptions) error
	Resize(ctx context.Context, ref string, width, height uint16) error
	Exec(ctx context.Context, ref string, opts engine.ExecOptions) (*engine.ExecProcess, error)
	Pids(ctx context.Context, ref string) ([]int, error)
	Stats(ctx context.Context, ref string) (*engine.Stats, error)
}

// Builder runs Dockerfile builds (internal/engine/build).
type Builder interface {
	Build(ctx context.Context, opts build.Options) (build.Result, error)
}

// Config configures a Server.
type Config struct {
	Engine  Engine
	Builder Builder
	// Network gives containers their network; nil means every container
	// gets only loopback (--network none).
	Network Network
	// DataDir is berth's data dir: registries.yaml is read from it.
	DataDir string
	// BridgeName and SubnetBits describe Network for inspect output.
	BridgeName string
	SubnetBits int
	Log        *slog.Logger
}

var _ Engine = (*engine.Engine)(nil)
