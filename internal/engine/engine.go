package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// Config configures an Engine.
type Config struct {
	// Root is DATA_DIR; the engine keeps its state under Root/engine and
	// reads Root/registries.yaml on every pull and push.
	Root string
	Log  *slog.Logger
	// Runc is the runc binary; empty finds "runc" in PATH.
	Runc string
	// ShimBinary is the executable re-executed as `__shim`; empty means this
	// process's own executable (cmd/berth registers the handler).
	ShimBinary string
}

// Engine is the container engine of one node. Its methods are safe for
// concurrent use. Containers keep running when the Engine is closed or the
// process exits: their shims own them.
type Engine struct {
	cfg        Config
	log        *slog.Logger
	root       string // Root/engine
	runc       string
	shimBin    string
	cgroupRoot string
	images     *imageStore

	mu         sync.Mutex
	containers map[string]*container // by ID
	names      map[string]string     // name -> ID
	closed     chan struct{}
	wg         sync.WaitGroup // monitors
}

// New opens (or creates) the engine state under cfg.Root and adopts the
// containers whose shims survived a restart; containers whose shim died
// are marked exited. It does not block on running containers.
func New(cfg Config) (*Engine, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("%w: engine root is empty", ErrInvalid)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, err
	}
	// runc refuses a rootfs path that goes through a symlink.
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	cfg.Root = root
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:        cfg,
		log:        cfg.Log,
		root:       filepath.Join(root, "engine"),
		cgroupRoot: CgroupRoot(root),
		containers: map[string]*container{},
		names:      map[string]string{},
		closed:     make(chan struct{}),
	}
	if e.runc = cfg.Runc; e.runc == "" {
		if e.runc, err = exec.LookPath("runc"); err != nil {
			return nil, fmt.Errorf("runc: %w", err)
		}
	}
	if e.shimBin = cfg.ShimBinary; e.shimBin == "" {
		if e.shimBin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"containers", "run", "runc", "empty", "trash"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Containers removed while the last engine was deleting their files:
	// finish in the background, a big rootfs must not delay the start.
	if ents, err := os.ReadDir(filepath.Join(e.root, "trash")); err == nil && len(ents) > 0 {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for _, ent := range ents {
				os.RemoveAll(filepath.Join(e.root, "trash", ent.Name()))
			}
		}()
	}
	// Layer dirs must be traversable for containers running as non-root users.
	for _, d := range []string{root, e.root} {
		if err := os.Chmod(d, 0o711); err != nil {
			return nil, err
		}
	}
	if e.images, err = openImageStore(e.root); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := e.adopt(); err != nil {
		return nil, fmt.Errorf("adopt containers: %w", err)
	}
	return e, nil
}

// Close stops the engine's background work (exit monitors). Containers and
// their shims keep running; a new Engine on the same Root adopts them.
func (e *Engine) Close() error {
	e.mu.Lock()
	select {
	case <-e.closed:
	default:
		close(e.closed)
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// CgroupRoot is the cgroupfs parent of the containers of the berth using
// dataDir: "/berth-<8 hex of sha256(resolved dataDir)>", so two berths on
// one host never share cgroups. Callers building pod cgroups nest under it.
func CgroupRoot(dataDir string) string {
	// Same name for every spelling of the dir (relative, through symlinks).
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	if r, err := filepath.EvalSymlinks(dataDir); err == nil {
		dataDir = r
	}
	sum := sha256.Sum256([]byte(dataDir))
	return "/berth-" + hex.EncodeToString(sum[:4])
}

// CgroupRoot is this engine's cgroup parent (see the CgroupRoot function).
func (e *Engine) CgroupRoot() string { return e.cgroupRoot }

// Runc is the path of the runc binary the engine uses.
func (e *Engine) Runc() string { return e.runc }

func hostArch() string { return runtime.GOARCH }

// Ping reports whether the engine state is reachable (the Docker API's /_ping).
func (e *Engine) Ping(ctx context.Context) error {
	_, err := os.Stat(e.root)
	return err
}
