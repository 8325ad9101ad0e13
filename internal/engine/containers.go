package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// containerMeta is containers/<id>/meta.json.
type containerMeta struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Image       string        `json:"image"`
	ImageID     string        `json:"imageID"`
	Created     time.Time     `json:"created"`
	Spec        ContainerSpec `json:"spec"`
	Path        string        `json:"path"`
	Args        []string      `json:"args"`
	Env         []string      `json:"env"`
	WorkingDir  string        `json:"workingDir"`
	User        string        `json:"user"`
	StopSignal  string        `json:"stopSignal"`
	LowerDirs   []string      `json:"lowerDirs"`
	UpperDir    string        `json:"upperDir"`
	WorkDir     string        `json:"workDir"`
	Rootfs      string        `json:"rootfs"`
	CgroupsPath string        `json:"cgroupsPath"`
	// RestartCount sums the restarts of earlier shims of this container.
	RestartCount int `json:"restartCount"`
}

// container is the engine's in-memory handle of one container.
type container struct {
	dir string

	// op serializes start, stop and remove of this container.
	op sync.Mutex

	mu        sync.Mutex
	meta      containerMeta
	exitCh    chan struct{} // closed (and replaced) at every exit
	removedCh chan struct{} // closed once removed
	removed   bool
	final     *ContainerState  // the state when it was removed
	pending   []*pendingAttach // attaches waiting for the next start
	monitored bool
	// shimc delivers the result of the shim Create spawns ahead of Start.
	shimc chan error
}

func (c *container) statePath() string { return filepath.Join(c.dir, "state.json") }
func (c *container) logPath() string   { return filepath.Join(c.dir, "container.log") }

func (c *container) saveMeta() error {
	c.mu.Lock()
	b, err := json.MarshalIndent(&c.meta, "", " ")
	c.mu.Unlock()
	if err != nil {
		return err
	}
	// Not fsynced: it is on the start path of every container, and ext4
	// flushes a file renamed over an existing one anyway (auto_da_alloc).
	return writeFileAtomic(filepath.Join(c.dir, "meta.json"), b, false)
}

// state reads the shim's state file; a container never started is "created".
func (c *container) state() shim.State {
	st, err := shim.ReadState(c.statePath())
	if err != nil {
		return shim.State{Status: shim.StatusCreated}
	}
	return *st
}

func (e *Engine) socketPath(id string) string { return filepath.Join(e.root, "run", id[:12]+".sock") }

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// lookup finds a container by ID, unique ID prefix or name (with or
// without docker's leading slash).
func (e *Engine) lookup(ref string) (*container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.containers[ref]; ok {
		return c, nil
	}
	if id, ok := e.names[strings.TrimPrefix(ref, "/")]; ok {
		return e.containers[id], nil
	}
	var found *container
	if ref != "" {
		for id, c := range e.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, fmt.Errorf("%w: %s", ErrAmbiguous, ref)
				}
				found = c
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrContainerNotFound, ref)
	}
	return found, nil
}

// validName is docker's container name rule.
func validName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && strings.ContainsRune("_.-", r))
		if !ok {
			return false
		}
	}
	return true
}

// Create makes a container from spec: it resolves the image, mounts the
// overlay rootfs and writes the OCI bundle. Nothing runs until Start. On
// error nothing is left behind.
func (e *Engine) Create(ctx context.Context, spec ContainerSpec) (_ *Container, retErr error) {
	t0 := time.Now()
	defer func() { e.log.Debug("create", "image", spec.Image, "took", time.Since(t0), "err", retErr) }()
	spec.Name = strings.TrimPrefix(spec.Name, "/")
	if spec.Name != "" && !validName(spec.Name) {
		return nil, fmt.Errorf("%w: invalid container name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalid, spec.Name)
	}
	switch spec.RestartPolicy.Name {
	case "", "no", "always", "on-failure", "unless-stopped":
	default:
		return nil, fmt.Errorf("%w: invalid restart policy %q", ErrInvalid, spec.RestartPolicy.Name)
	}
	if spec.AutoRemove && spec.RestartPolicy.Name != "" && spec.RestartPolicy.Name != "no" {
		return nil, fmt.Errorf("%w: can't create 'AutoRemove' container with restart policy", ErrInvalid)
	}
	meta := containerMeta{ID: newID(), Image: spec.Image, Created: time.Now().UTC(), Spec: spec}
	var img imageDefaults
	if spec.Image != "" {
		id, err := e.images.resolve(spec.Image)
		if err != nil {
			return nil, err
		}
		cf, err := e.images.configFile(id)
		if err != nil {
			return nil, err
		}
		if meta.LowerDirs, err = e.images.lowerDirs(id); err != nil {
			return nil, err
		}
		meta.ImageID = id
		img = imageDefaults{Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Env: cf.Config.Env,
			WorkingDir: cf.Config.WorkingDir, User: cf.Config.User, StopSignal: cf.Config.StopSignal, Labels: cf.Config.Labels}
	}
	args := effectiveArgs(img, spec)
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: no command specified", ErrInvalid)
	}
	meta.Path, meta.Args = args[0], args[1:]
	meta.Env = mergeEnv(img.Env, spec.Env)
	meta.WorkingDir = firstNonEmpty(spec.WorkingDir, img.WorkingDir)
	meta.User = firstNonEmpty(spec.User, img.User)
	meta.StopSignal = firstNonEmpty(spec.StopSignal, img.StopSignal, "SIGTERM")
	if _, err := parseSignal(meta.StopSignal); err != nil {
		return nil, err
	}
	if len(img.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range spec.Labels {
			labels[k] = v
		}
		meta.Spec.Labels = labels
	}
	if meta.Spec.Hostname == "" && spec.UTSNS == NamespacePrivate {
		meta.Spec.Hostname = meta.ID[:12]
	}
	parent := spec.CgroupParent
	if parent == "" {
		parent = e.cgroupRoot
	}
	meta.CgroupsPath = filepath.Join(parent, meta.ID)

	e.mu.Lock()
	if meta.Spec.Name == "" {
		meta.Spec.Name = "berth_" + meta.ID[:8]
	}
	meta.Name = meta.Spec.Name
	if _, taken := e.names[meta.Name]; taken {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: the container name \"/%s\" is already in use", ErrNameInUse, meta.Name)
	}
	c := &container{dir: filepath.Join(e.root, "containers", meta.ID), exitCh: make(chan struct{}), removedCh: make(chan struct{})}
	e.names[meta.Name] = meta.ID // reserve; undone on error
	e.mu.Unlock()
	defer func() {
		if retErr != nil {
			e.mu.Lock()
			delete(e.names, meta.Name)
			e.mu.Unlock()
			unmountRootfs(meta.Rootfs)
			removeNetns(filepath.Join(c.dir, "netns"))
			os.RemoveAll(c.dir)
		}
	}()
	meta.UpperDir = filepath.Join(c.dir, "upper")
	meta.WorkDir = filepath.Join(c.dir, "work")
	meta.Rootfs = filepath.Join(c.dir, "rootfs")
	for _, d := range []string{c.dir, meta.UpperDir, meta.WorkDir, meta.Rootfs} {
		if err := os.Mkdir(d, 0o711); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
	}
	if err := os.Chmod(meta.UpperDir, 0o755); err != nil {
		return nil, err
	}
	if err := e.mountRootfs(&meta); err != nil {
		return nil, err
	}
	c.meta = meta
	if err := e.writeBundle(c); err != nil {
		return nil, err
	}
	if err := c.saveMeta(); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	// Start the shim now: it boots while the caller prepares the start
	// (docker run does attach and wait calls in between).
	shimc := make(chan error, 1)
	c.shimc = shimc
	go func() { shimc <- e.prepareShim(c) }()
	e.mu.Lock()
	e.containers[meta.ID] = c
	e.mu.Unlock()
	return e.describe(c), nil
}

// imageDefaults are the parts of an image config a container inherits.
type imageDefaults struct {
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
	StopSignal           string
	Labels               map[string]string
}

// effectiveArgs is docker's entrypoint/cmd rule: a given Entrypoint drops
// the image's Cmd unless Cmd is given too.
func effectiveArgs(img imageDefaults, spec ContainerSpec) []string {
	ep, cmd := img.Entrypoint, img.Cmd
	if spec.Entrypoint != nil {
		ep, cmd = spec.Entrypoint, nil
	}
	if spec.Cmd != nil {
		cmd = spec.Cmd
	}
	return append(append([]string(nil), ep...), cmd...)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// mountRootfs mounts the overlay of a container (idempotent).
func (e *Engine) mountRootfs(m *containerMeta) error {
	if mounted(m.Rootfs) {
		return nil
	}
	lowers := m.LowerDirs
	if len(lowers) == 0 {
		lowers = []string{filepath.Join(e.root, "empty")}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), m.UpperDir, m.WorkDir)
	if len(opts) > os.Getpagesize()-1 {
		return fmt.Errorf("mount rootfs: %d layers make the overlay options too long", len(lowers))
	}
	if err := unix.Mount("overlay", m.Rootfs, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	return nil
}

// mounted reports whether p is a mount point (its device differs from its parent's).
func mounted(p string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(p, &a) != nil || unix.Lstat(filepath.Dir(p), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

func unmountRootfs(p string) error {
	if p == "" {
		return nil
	}
	for mounted(p) {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return nil
}

// writeBundle resolves the user, makes the /etc files and writes config.json.
func (e *Engine) writeBundle(c *container) error {
	m := &c.meta
	uid, gid, groups, err := resolveUser(m.Rootfs, m.User)
	if err != nil {
		return err
	}
	groups = append(groups, m.Spec.AdditionalGroups...)
	spec := m.Spec
	if spec.NetNS == NetworkNone {
		p := filepath.Join(c.dir, "netns")
		if _, err := os.Stat(p); err != nil {
			if err := newLoopbackNetns(p); err != nil {
				return err
			}
		}
		spec.NetNS = p
	}
	in := specInput{
		ID: m.ID, Spec: &spec, Args: append([]string{m.Path}, m.Args...), Env: m.Env, WorkingDir: m.WorkingDir,
		UID: uid, GID: gid, Groups: groups, Rootfs: m.Rootfs, CgroupsPath: m.CgroupsPath,
		HostsPath: m.Spec.HostsPath, ResolvConfPath: m.Spec.ResolvConfPath, HostnamePath: m.Spec.HostnamePath,
	}
	if in.HostnamePath == "" && m.Spec.Hostname != "" {
		in.HostnamePath = filepath.Join(c.dir, "hostname")
		if err := os.WriteFile(in.HostnamePath, []byte(m.Spec.Hostname+"\n"), 0o644); err != nil {
			return err
		}
	}
	if in.HostsPath == "" {
		in.HostsPath = filepath.Join(c.dir, "hosts")
		hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		if m.Spec.Hostname != "" {
			hosts += "127.0.1.1\t" + m.Spec.Hostname + "\n"
		}
		if err := os.WriteFile(in.HostsPath, []byte(hosts), 0o644); err != nil {
			return err
		}
	}
	if in.ResolvConfPath == "" {
		in.ResolvConfPath = filepath.Join(c.dir, "resolv.conf")
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			b = nil // a container without resolvers is still a container
		}
		if err := os.WriteFile(in.ResolvConfPath, b, 0o644); err != nil {
			return err
		}
	}
	if m.WorkingDir != "" {
		// Like docker, create the working dir in the image's filesystem.
		if p, err := safeDir(m.Rootfs, m.WorkingDir); err == nil {
			os.Lchown(p, int(uid), int(gid))
		}
	}
	oci, err := generateSpec(in)
	if err != nil {
		return err
	}
	b, err := json.Marshal(oci)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "config.json"), b, 0o600)
}

// describe builds the public view of c.
func (e *Engine) describe(c *container) *Container {
	c.mu.Lock()
	m := c.meta
	final := c.final
	c.mu.Unlock()
	st := c.state()
	if final != nil {
		st = shim.State{Status: final.Status, ExitCode: final.ExitCode, OOMKilled: final.OOMKilled,
			Error: final.Error, StartedAt: final.StartedAt, FinishedAt: final.FinishedAt}
	}
	out := &Container{
		ID: m.ID, Name: m.Name, Image: m.Image, ImageID: m.ImageID, Created: m.Created, Spec: m.Spec,
		Path: m.Path, Args: m.Args, Env: m.Env, WorkingDir: m.WorkingDir, User: m.User,
		LogPath: c.logPath(), Rootfs: m.Rootfs, UpperDir: m.UpperDir, CgroupsPath: m.CgroupsPath,
		RestartCount: m.RestartCount + st.RestartCount,
		State: ContainerState{
			Status: st.Status, Running: st.Status == shim.StatusRunning, Restarting: st.Status == shim.StatusRestarting,
			ExitCode: st.ExitCode, OOMKilled: st.OOMKilled, Error: st.Error, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
		},
	}
	if st.Status == shim.StatusRunning && st.Pid > 0 {
		out.State.Pid = st.Pid
	}
	if st.Status == shim.StatusRunning || st.Status == shim.StatusRestarting {
		out.ShimPid = st.ShimPid
	}
	return out
}

// Container returns one container by ID, unique ID prefix or name.
func (e *Engine) Container(ctx context.Context, ref string) (*Container, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	return e.describe(c), nil
}

// List returns containers, newest first.
func (e *Engine) List(ctx context.Context, opts ListOptions) ([]Container, error) {
	e.mu.Lock()
	cs := make([]*container, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	var out []Container
	for _, c := range cs {
		d := e.describe(c)
		if !opts.All && !d.State.Running && !d.State.Restarting {
			continue
		}
		match := true
		for k, v := range opts.Labels {
			if got, ok := d.Spec.Labels[k]; !ok || got != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Rename gives a container a new unique name.
func (e *Engine) Rename(ctx context.Context, ref, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	if !validName(newName) {
		return fmt.Errorf("%w: invalid container name %q", ErrInvalid, newName)
	}
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if id, taken := e.names[newName]; taken && id != c.meta.ID {
		e.mu.Unlock()
		return fmt.Errorf("%w: the container name \"/%s\" is already in use", ErrNameInUse, newName)
	}
	c.mu.Lock()
	old := c.meta.Name
	c.meta.Name, c.meta.Spec.Name = newName, newName
	c.mu.Unlock()
	delete(e.names, old)
	e.names[newName] = c.meta.ID
	e.mu.Unlock()
	return c.saveMeta()
}

// containersUsingImage lists the IDs of containers made from image id.
func (e *Engine) containersUsingImage(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for cid, c := range e.containers {
		if c.meta.ImageID == id {
			out = append(out, cid)
		}
	}
	sort.Strings(out)
	return out
}

// containerLowerDirs lists every layer dir some container mounts.
func (e *Engine) containerLowerDirs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.containers {
		out = append(out, c.meta.LowerDirs...)
	}
	return out
}

// adopt loads the containers on disk. Live shims keep their containers;
// a container whose shim is gone is marked exited with an error.
func (e *Engine) adopt() error {
	ents, err := os.ReadDir(filepath.Join(e.root, "containers"))
	if err != nil {
		return err
	}
	// Work that looks containers up runs once the maps are complete.
	var later []func()
	defer func() {
		for _, f := range later {
			go f()
		}
	}()
	for _, ent := range ents {
		dir := filepath.Join(e.root, "containers", ent.Name())
		b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err != nil {
			// A Create interrupted before meta.json: nothing ran in it.
			unmountRootfs(filepath.Join(dir, "rootfs"))
			os.RemoveAll(dir)
			continue
		}
		c := &container{dir: dir, exitCh: make(chan struct{}), removedCh: make(chan struct{})}
		if err := json.Unmarshal(b, &c.meta); err != nil {
			e.log.Warn("skipping unreadable container", "dir", dir, "err", err)
			continue
		}
		e.containers[c.meta.ID] = c
		e.names[c.meta.Name] = c.meta.ID
		st := c.state()
		if st.Status != shim.StatusRunning && st.Status != shim.StatusRestarting {
			if c.meta.Spec.AutoRemove && st.Status == shim.StatusExited {
				later = append(later, func() { e.autoRemove(c) })
			}
			continue
		}
		if shimAlive(st.ShimPid, dir) {
			e.startMonitor(c, st.Exits)
			continue
		}
		// Its process may outlive the shim (a shim killed on its own), but
		// nothing holds its stdio or would record its exit any more.
		e.log.Warn("container's shim is gone, killing what is left and marking it exited", "container", c.meta.ID)
		killCgroup(c.meta.CgroupsPath)
		st.Status, st.Pid, st.ExitCode = shim.StatusExited, 0, 255
		st.Error = "the container's shim exited unexpectedly"
		st.FinishedAt = time.Now().UTC()
		if err := shim.WriteState(c.statePath(), &st); err != nil {
			return err
		}
		// Like dockerd after a reboot: containers that should always run
		// come back (an explicit stop or berth reset marks them exited first).
		if p := c.meta.Spec.RestartPolicy.Name; (p == "always" || p == "unless-stopped") && !st.StopRequested {
			id := c.meta.ID
			later = append(later, func() {
				if err := e.Start(context.Background(), id); err != nil {
					e.log.Warn("restart policy: start after adoption failed", "container", id, "err", err)
				}
			})
		}
	}
	return nil
}

// shimAlive reports whether pid is a shim of the container in dir (PIDs
// are reused, so the command line must match too).
func shimAlive(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) >= 3 && args[1] == ShimArg && args[2] == dir
}

// ShimArg is argv[1] of a re-executed shim; cmd/berth maps it to shim.Main.
const ShimArg = shim.Arg

// errNoShim means the shim is not (or no longer) there to ask.
var errNoShim = errors.New("engine: container has no shim")

func isNoShim(err error) bool {
	return errors.Is(err, errNoShim) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}
