package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/berth-dev/berth/internal/engine"
)

// fakeEngine keeps images and containers in maps; methods a test doesn't
// set up answer errUnexpected so a test notices calls it didn't plan for.
type fakeEngine struct {
	images     map[string]*engine.Image
	containers map[string]*engine.Container
	created    []engine.ContainerSpec
}

var errUnexpected = errors.New("fake: unexpected call")

func newFake() *fakeEngine {
	return &fakeEngine{images: map[string]*engine.Image{}, containers: map[string]*engine.Container{}}
}

func (f *fakeEngine) Images(ctx context.Context) ([]engine.Image, error) {
	var out []engine.Image
	for _, i := range f.images {
		out = append(out, *i)
	}
	return out, nil
}

func (f *fakeEngine) Image(ctx context.Context, ref string) (*engine.Image, error) {
	if i, ok := f.images[ref]; ok {
		return i, nil
	}
	return nil, fmt.Errorf("%w: %s", engine.ErrImageNotFound, ref)
}

func (f *fakeEngine) Tag(ctx context.Context, src, target string) error { return errUnexpected }
func (f *fakeEngine) History(ctx context.Context, ref string) ([]engine.HistoryEntry, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) RemoveImage(ctx context.Context, ref string, force bool) (*engine.RemovedImage, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) ImportRootfs(ctx context.Context, r io.Reader, opts engine.ImportOptions) (*engine.Image, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) Load(ctx context.Context, r io.Reader) ([]string, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) Save(ctx context.Context, w io.Writer, refs []string) error {
	return errUnexpected
}
func (f *fakeEngine) Pull(ctx context.Context, ref string, opts engine.PullOptions) (*engine.Image, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) Push(ctx context.Context, ref string, opts engine.PushOptions) (string, error) {
	return "", errUnexpected
}

func (f *fakeEngine) Commit(ctx context.Context, id string, opts engine.CommitOptions) (*engine.Image, error) {
	return nil, errUnexpected
}

func (f *fakeEngine) Create(ctx context.Context, spec engine.ContainerSpec) (*engine.Container, error) {
	for _, c := range f.containers {
		if c.Name == spec.Name {
			return nil, fmt.Errorf("%w: %s", engine.ErrNameInUse, spec.Name)
		}
	}
	f.created = append(f.created, spec)
	id := fmt.Sprintf("%064d", len(f.containers)+1)
	c := &engine.Container{ID: id, Name: spec.Name, Image: spec.Image, Spec: spec, State: engine.ContainerState{Status: engine.StatusCreated}}
	f.containers[id] = c
	return c, nil
}

func (f *fakeEngine) Container(ctx context.Context, ref string) (*engine.Container, error) {
	for _, c := range f.containers {
		if c.ID == ref || c.Name == ref {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", engine.ErrContainerNotFound, ref)
}

func (f *fakeEngine) List(ctx context.Context, opts engine.ListOptions) ([]engine.Container, error) {
	var out []engine.Container
	for _, c := range f.containers {
		if opts.All || c.State.Running {
			out = append(out, *c)
		}
	}
	return out, nil
}

func (f *fakeEngine) Start(ctx context.Context, ref string) error { return errUnexpected }
func (f *fakeEngine) Stop(ctx context.Context, ref string, opts engine.StopOptions) error {
	return errUnexpected
}
func (f *fakeEngine) Restart(ctx context.Context, ref string, opts engine.StopOptions) error {
	return errUnexpected
}
func (f *fakeEngine) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	if c, err := f.Container(ctx, ref); err != nil {
		return err
	} else if !c.State.Running {
		return fmt.Errorf("%w: %s", engine.ErrNotRunning, ref)
	}
	return nil
}
func (f *fakeEngine) RemoveContainer(ctx context.Context, ref string, opts engine.RemoveOptions) error {
	c, err := f.Container(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Running && !opts.Force {
		return fmt.Errorf("%w: %s", engine.ErrRunning, ref)
	}
	delete(f.containers, c.ID)
	return nil
}
func (f *fakeEngine) Rename(ctx context.Context, ref, newName string) error { return errUnexpected }
func (f *fakeEngine) Wait(ctx context.Context, ref string, cond engine.WaitCondition) (*engine.ContainerState, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) WaitChan(ctx context.Context, ref string, cond engine.WaitCondition) (<-chan engine.WaitResult, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) Logs(ctx context.Context, ref string, opts engine.LogOptions, fn func(engine.LogEntry) error) error {
	return errUnexpected
}
func (f *fakeEngine) Attach(ctx context.Context, ref string, opts engine.AttachOptions) error {
	return errUnexpected
}
func (f *fakeEngine) Resize(ctx context.Context, ref string, width, height uint16) error {
	return errUnexpected
}
func (f *fakeEngine) Exec(ctx context.Context, ref string, opts engine.ExecOptions) (*engine.ExecProcess, error) {
	return nil, errUnexpected
}
func (f *fakeEngine) Pids(ctx context.Context, ref string) ([]int, error) { return nil, errUnexpected }
func (f *fakeEngine) Stats(ctx context.Context, ref string) (*engine.Stats, error) {
	return nil, errUnexpected
}
