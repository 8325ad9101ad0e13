package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/engine"
)

// Engine is what the builder needs from the container engine
// (*engine.Engine satisfies it).
type Engine interface {
	Image(ctx context.Context, ref string) (*engine.Image, error)
	Pull(ctx context.Context, ref string, opts engine.PullOptions) (*engine.Image, error)
	// CreateImage makes a child of parent with one layer (nil: none).
	CreateImage(ctx context.Context, parent string, layer io.Reader, opts engine.CommitOptions) (*engine.Image, error)
	Tag(ctx context.Context, src, target string) error
	Create(ctx context.Context, spec engine.ContainerSpec) (*engine.Container, error)
	Start(ctx context.Context, ref string) error
	Wait(ctx context.Context, ref string, cond engine.WaitCondition) (*engine.ContainerState, error)
	Logs(ctx context.Context, ref string, opts engine.LogOptions, fn func(engine.LogEntry) error) error
	Commit(ctx context.Context, id string, opts engine.CommitOptions) (*engine.Image, error)
	RemoveContainer(ctx context.Context, ref string, opts engine.RemoveOptions) error
}

var _ Engine = (*engine.Engine)(nil)

// Config configures a Builder.
type Config struct {
	Engine Engine
	// Dir holds the cache index and build contexts while they are used.
	Dir string
	Log *slog.Logger
}

// Builder runs Dockerfile builds with the legacy builder's semantics and
// output. Builds may run concurrently.
type Builder struct {
	eng   Engine
	dir   string
	log   *slog.Logger
	cache *cache
}

// New opens the builder's state in cfg.Dir.
func New(cfg Config) (*Builder, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	c, err := openCache(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Builder{eng: cfg.Engine, dir: cfg.Dir, log: cfg.Log, cache: c}, nil
}

// Options are one build's parameters (the query of POST /build).
type Options struct {
	Context    io.Reader // tar, optionally gzip or bzip2
	Dockerfile string    // path in the context; default "Dockerfile"
	Tags       []string
	BuildArgs  map[string]*string
	Labels     map[string]string
	NoCache    bool
	Pull       bool
	Target     string
	// Credentials are used for pulling base images, per registry host.
	Credentials map[string]engine.Credentials
	// Out receives the text the CLI prints: "Step 1/4 : FROM node:slim".
	Out io.Writer
	// Aux is called with the image ID just before "Successfully built".
	Aux func(id string)
}

// Result is the outcome of a successful build.
type Result struct {
	ID string // sha256:...
}

// stageState is the image being built in one stage.
type stageState struct {
	image    string    // current image ID; "" for scratch
	config   v1.Config // config of the image being made
	args     map[string]string
	cmdSet   bool
	nameArgs map[string]bool // ARGs declared in this stage
}

// Build runs the Dockerfile in opts.Context. On failure nothing is left but
// the images of completed steps (they are the cache, as with docker): RUN
// containers and mounts are removed before Build returns.
func (b *Builder) Build(ctx context.Context, opts Options) (Result, error) {
	tmp, err := os.MkdirTemp(b.dir, "context-")
	if err != nil {
		return Result{}, fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := extractContext(opts.Context, tmp); err != nil {
		return Result{}, err
	}
	df, ig, err := readDockerfile(tmp, opts.Dockerfile)
	if err != nil {
		return Result{}, err
	}
	d, err := Parse(strings.NewReader(string(df)))
	if err != nil {
		return Result{}, err
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	run := &buildRun{b: b, opts: opts, out: out, ctxDir: tmp, ignore: ig, df: d, stageIDs: map[string]string{}, used: map[string]bool{}}
	id, err := run.all(ctx)
	if err != nil {
		return Result{}, err
	}
	if opts.Aux != nil {
		opts.Aux(id)
	}
	fmt.Fprintf(out, "Successfully built %s\n", shortID(id))
	for _, t := range opts.Tags {
		if err := b.eng.Tag(ctx, id, t); err != nil {
			return Result{}, fmt.Errorf("tag %s: %w", t, err)
		}
		fmt.Fprintf(out, "Successfully tagged %s\n", familiar(t))
	}
	return Result{ID: id}, nil
}

// familiar adds the ":latest" docker prints for an untagged name.
func familiar(t string) string {
	if r, err := engine.ParseReference(t); err == nil {
		return r.Familiar()
	}
	return t
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

type buildRun struct {
	b        *Builder
	opts     Options
	out      io.Writer
	ctxDir   string
	ignore   *ignore
	df       *Dockerfile
	step     int
	meta     map[string]string // values of the ARGs before the first FROM
	stageIDs map[string]string // stage name or index -> image ID
	used     map[string]bool   // build args some ARG consumed
}

func (r *buildRun) stepf(in Instruction) {
	r.step++
	fmt.Fprintf(r.out, "Step %d/%d : %s\n", r.step, r.df.Steps(), in.Original)
}

func (r *buildRun) all(ctx context.Context) (string, error) {
	r.meta = map[string]string{}
	for _, in := range r.df.MetaArgs {
		r.stepf(in)
		name, val, err := r.argValue(in, lexer{escape: r.df.Escape, lookup: mapLookup(r.meta)})
		if err != nil {
			return "", err
		}
		r.meta[name] = val
	}
	last := len(r.df.Stages) - 1
	if r.opts.Target != "" {
		last = -1
		for i, s := range r.df.Stages {
			if s.Name == strings.ToLower(r.opts.Target) {
				last = i
			}
		}
		if last < 0 {
			return "", fmt.Errorf("failed to reach build target %s in Dockerfile", r.opts.Target)
		}
	}
	var id string
	for i := 0; i <= last; i++ {
		var err error
		if id, err = r.stage(ctx, i, r.df.Stages[i]); err != nil {
			return "", err
		}
		r.stageIDs[strconv.Itoa(i)] = id
		if n := r.df.Stages[i].Name; n != "" {
			r.stageIDs[n] = id
		}
	}
	var unused []string
	for k := range r.opts.BuildArgs {
		if !r.used[k] && !predefinedArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		fmt.Fprintf(r.out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	return id, nil
}

// predefinedArgs are usable without an ARG line (Dockerfile reference).
var predefinedArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true,
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// lookup resolves $NAME for expansion in a stage: ENV wins over ARG.
func (st *stageState) lookup(k string) (string, bool) {
	for i := len(st.config.Env) - 1; i >= 0; i-- {
		if name, v, ok := strings.Cut(st.config.Env[i], "="); ok && name == k {
			return v, true
		}
	}
	v, ok := st.args[k]
	return v, ok
}

// argValue returns an ARG's name and value: the --build-arg if given, else
// its expanded default.
func (r *buildRun) argValue(in Instruction, lx lexer) (string, string, error) {
	name, def, hasDef := strings.Cut(in.Args[0], "=")
	r.used[name] = true
	if v, ok := r.opts.BuildArgs[name]; ok && v != nil {
		return name, *v, nil
	}
	if !hasDef {
		return name, "", nil
	}
	val, err := lx.word(def)
	return name, val, err
}

func (r *buildRun) stage(ctx context.Context, idx int, s Stage) (string, error) {
	r.stepf(s.From)
	lx := lexer{escape: r.df.Escape, lookup: mapLookup(r.meta)}
	base, err := lx.word(s.From.Args[0])
	if err != nil {
		return "", r.errAt(s.From, err)
	}
	st := &stageState{args: map[string]string{}, nameArgs: map[string]bool{}}
	if err := r.from(ctx, st, base); err != nil {
		return "", err
	}
	fmt.Fprintf(r.out, " ---> %s\n", shortID(st.image))
	for _, in := range s.Commands {
		r.stepf(in)
		if err := r.instruction(ctx, st, in); err != nil {
			return "", err
		}
	}
	if st.image == "" {
		// A stage of only "FROM scratch" still yields an image.
		img, err := r.b.eng.CreateImage(ctx, "", nil, engine.CommitOptions{Config: &st.config, CreatedBy: "FROM scratch"})
		if err != nil {
			return "", err
		}
		st.image = img.ID
	}
	if len(r.opts.Labels) > 0 && idx == len(r.df.Stages)-1 {
		cfg := st.config
		cfg.Labels = mergeLabels(cfg.Labels, r.opts.Labels)
		img, err := r.b.eng.CreateImage(ctx, st.image, nil, engine.CommitOptions{Config: &cfg, CreatedBy: "LABEL (--label)"})
		if err != nil {
			return "", err
		}
		st.image = img.ID
	}
	return st.image, nil
}

func mergeLabels(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func (r *buildRun) errAt(in Instruction, err error) error {
	return fmt.Errorf("%s: %w", strings.ToUpper(in.Cmd), err)
}

// from sets st to the base image: scratch, an earlier stage, or an image
// from the store, pulled when missing (or always with --pull).
func (r *buildRun) from(ctx context.Context, st *stageState, base string) error {
	if strings.EqualFold(base, "scratch") {
		st.config = v1.Config{}
		return nil
	}
	if id, ok := r.stageIDs[strings.ToLower(base)]; ok {
		img, err := r.b.eng.Image(ctx, id)
		if err != nil {
			return err
		}
		st.image, st.config = img.ID, img.Config.Config
		return nil
	}
	img, err := r.b.eng.Image(ctx, base)
	if err != nil && !errors.Is(err, engine.ErrImageNotFound) {
		return err
	}
	if err != nil || r.opts.Pull {
		if img, err = r.pull(ctx, base); err != nil {
			return err
		}
	}
	st.image, st.config = img.ID, img.Config.Config
	st.config.Env = append([]string(nil), st.config.Env...)
	return nil
}

func (r *buildRun) pull(ctx context.Context, ref string) (*engine.Image, error) {
	var creds *engine.Credentials
	if pr, err := engine.ParseReference(ref); err == nil {
		if c, ok := r.opts.Credentials[pr.Registry]; ok {
			creds = &c
		}
	}
	img, err := r.b.eng.Pull(ctx, ref, engine.PullOptions{Credentials: creds, Progress: func(p engine.Progress) {
		if p.Total == 0 {
			fmt.Fprintf(r.out, "%s: %s\n", p.ID, p.Status)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return img, nil
}

// commitConfig records a config-only step as a new image (cached like any step).
func (r *buildRun) commitConfig(ctx context.Context, st *stageState, in Instruction, createdBy string) error {
	key := cacheKey(st.image, createdBy, configKey(st.config))
	if r.cached(ctx, st, key) {
		return nil
	}
	img, err := r.b.eng.CreateImage(ctx, st.image, nil, engine.CommitOptions{Config: &st.config, CreatedBy: createdBy})
	if err != nil {
		return r.errAt(in, err)
	}
	return r.done(st, key, img.ID)
}

func configKey(c v1.Config) string {
	b, _ := json.Marshal(c) // a v1.Config always marshals
	return string(b)
}

// cached switches st to the cached result of key, if there is one whose
// image still exists, and prints " ---> Using cache".
func (r *buildRun) cached(ctx context.Context, st *stageState, key string) bool {
	if r.opts.NoCache {
		return false
	}
	id, ok := r.b.cache.get(key)
	if !ok {
		return false
	}
	img, err := r.b.eng.Image(ctx, id)
	if err != nil {
		r.b.cache.forget(key)
		return false
	}
	st.image = img.ID
	st.config = img.Config.Config
	fmt.Fprintf(r.out, " ---> Using cache\n ---> %s\n", shortID(id))
	return true
}

func (r *buildRun) done(st *stageState, key, id string) error {
	st.image = id
	fmt.Fprintf(r.out, " ---> %s\n", shortID(id))
	if err := r.b.cache.put(key, id); err != nil {
		r.b.log.Warn("build cache not saved", "err", err)
	}
	return nil
}

const nop = "/bin/sh -c #(nop) "

func (r *buildRun) instruction(ctx context.Context, st *stageState, in Instruction) error {
	lx := lexer{escape: r.df.Escape, lookup: st.lookup}
	switch in.Cmd {
	case "arg":
		name, val, err := r.argValue(in, lx)
		if err != nil {
			return r.errAt(in, err)
		}
		if _, isMeta := r.meta[name]; isMeta && !strings.Contains(in.Args[0], "=") {
			if v, ok := r.opts.BuildArgs[name]; !ok || v == nil {
				val = r.meta[name] // "ARG NAME" in a stage inherits the global default
			}
		}
		st.args[name] = val
		fmt.Fprintf(r.out, " ---> %s\n", shortID(st.image))
		return nil
	case "workdir":
		if _, err := applyConfig(st, in, lx); err != nil {
			return err
		}
		return r.workdir(ctx, st, in)
	case "copy", "add":
		return r.copy(ctx, st, in, lx)
	case "run":
		return r.run(ctx, st, in)
	}
	createdBy, err := applyConfig(st, in, lx)
	if err != nil {
		return err
	}
	return r.commitConfig(ctx, st, in, createdBy)
}

// applyConfig applies an instruction that only changes the image config
// (ENV, LABEL, EXPOSE, WORKDIR, USER, CMD, ...) to st and returns the
// history line for it.
func applyConfig(st *stageState, in Instruction, lx lexer) (string, error) {
	errAt := func(err error) error { return fmt.Errorf("%s: %w", strings.ToUpper(in.Cmd), err) }
	words := func() ([]string, error) {
		if in.Exec {
			return in.Args, nil
		}
		var out []string
		for _, a := range in.Args {
			w, err := lx.word(a)
			if err != nil {
				return nil, errAt(err)
			}
			out = append(out, w)
		}
		return out, nil
	}
	switch in.Cmd {
	case "env":
		for _, a := range in.Args {
			k, raw, _ := strings.Cut(a, "=")
			v, err := lx.word(raw)
			if err != nil {
				return "", errAt(err)
			}
			st.config.Env = setEnv(st.config.Env, k, v)
		}
		return nop + "ENV " + strings.Join(st.config.Env, " "), nil
	case "label":
		labels := map[string]string{}
		for k, v := range st.config.Labels {
			labels[k] = v
		}
		for _, a := range in.Args {
			k, raw, _ := strings.Cut(a, "=")
			key, err := lx.word(k)
			if err != nil {
				return "", errAt(err)
			}
			v, err := lx.word(raw)
			if err != nil {
				return "", errAt(err)
			}
			labels[key] = v
		}
		st.config.Labels = labels
	case "maintainer":
	case "expose":
		ws, err := words()
		if err != nil {
			return "", err
		}
		ports := map[string]struct{}{}
		for p := range st.config.ExposedPorts {
			ports[p] = struct{}{}
		}
		for _, p := range ws {
			port, proto, _ := strings.Cut(p, "/")
			if proto == "" {
				proto = "tcp"
			}
			if _, err := strconv.ParseUint(strings.Split(port, "-")[0], 10, 16); err != nil {
				return "", errAt(fmt.Errorf("invalid containerPort: %s", port))
			}
			ports[port+"/"+strings.ToLower(proto)] = struct{}{}
		}
		st.config.ExposedPorts = ports
	case "workdir":
		ws, err := words()
		if err != nil {
			return "", err
		}
		wd := ws[0]
		if !path.IsAbs(wd) {
			base := st.config.WorkingDir
			if base == "" {
				base = "/"
			}
			wd = path.Join(base, wd)
		}
		st.config.WorkingDir = path.Clean(wd)
		return nop + "WORKDIR " + st.config.WorkingDir, nil
	case "user":
		ws, err := words()
		if err != nil {
			return "", err
		}
		st.config.User = ws[0]
	case "stopsignal":
		ws, err := words()
		if err != nil {
			return "", err
		}
		st.config.StopSignal = ws[0]
	case "volume":
		ws, err := words()
		if err != nil {
			return "", err
		}
		vols := map[string]struct{}{}
		for v := range st.config.Volumes {
			vols[v] = struct{}{}
		}
		for _, v := range ws {
			vols[v] = struct{}{}
		}
		st.config.Volumes = vols
	case "healthcheck":
		// Recorded in the image as docker records it; berth's engine does
		// not run health checks, so containers report no health status.
		hc := &v1.HealthConfig{Test: append([]string{}, in.Args...)}
		for name, v := range in.Flags {
			if name == "retries" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return "", errAt(fmt.Errorf("invalid --retries %q", v))
				}
				hc.Retries = n
				continue
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", errAt(fmt.Errorf("invalid --%s %q", name, v))
			}
			switch name {
			case "interval":
				hc.Interval = d
			case "timeout":
				hc.Timeout = d
			case "start-period":
				hc.StartPeriod = d
			}
		}
		st.config.Healthcheck = hc
	case "shell":
		st.config.Shell = in.Args
	case "cmd":
		st.config.Cmd = command(st, in)
		st.cmdSet = true
		return nop + "CMD " + jsonString(st.config.Cmd), nil
	case "entrypoint":
		st.config.Entrypoint = command(st, in)
		if !st.cmdSet {
			// A new ENTRYPOINT drops the base image's CMD (Dockerfile reference).
			st.config.Cmd = nil
		}
		return nop + "ENTRYPOINT " + jsonString(st.config.Entrypoint), nil
	default:
		return "", errAt(errors.New("not supported here"))
	}
	return nop + in.Original, nil
}

// ApplyChanges applies `docker import --change` / `docker commit --change`
// instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR,
// STOPSIGNAL) to a copy of base.
func ApplyChanges(base v1.Config, changes []string) (v1.Config, error) {
	st := &stageState{args: map[string]string{}, config: *base.DeepCopy()}
	for _, c := range changes {
		nodes, escape, err := parseNodes(strings.NewReader(c))
		if err != nil {
			return v1.Config{}, err
		}
		for _, n := range nodes {
			in, err := parseInstruction(n, escape)
			if err != nil {
				return v1.Config{}, err
			}
			switch in.Cmd {
			case "cmd", "entrypoint", "env", "expose", "label", "user", "volume", "workdir", "stopsignal":
			default:
				return v1.Config{}, fmt.Errorf("%s is not a valid change command", strings.ToUpper(in.Cmd))
			}
			if _, err := applyConfig(st, in, lexer{escape: escape, lookup: st.lookup}); err != nil {
				return v1.Config{}, err
			}
		}
	}
	return st.config, nil
}

func jsonString(v []string) string {
	b, _ := json.Marshal(v) // []string always marshals
	return string(b)
}

// command is the exec form as given, or the shell form wrapped in SHELL
// (default /bin/sh -c).
func command(st *stageState, in Instruction) []string {
	if in.Exec {
		return append([]string{}, in.Args...)
	}
	sh := st.config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), in.Args[0])
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			out := append([]string{}, env...)
			out[i] = k + "=" + v
			return out
		}
	}
	return append(append([]string{}, env...), k+"="+v)
}

// workdir records WORKDIR and creates the directory in a layer when the
// image lacks it, as the legacy builder does.
func (r *buildRun) workdir(ctx context.Context, st *stageState, in Instruction) error {
	createdBy := nop + "WORKDIR " + st.config.WorkingDir
	key := cacheKey(st.image, createdBy, configKey(st.config))
	if r.cached(ctx, st, key) {
		return nil
	}
	var lower string
	if st.image != "" {
		dir, release, err := r.mountImage(ctx, st.image)
		if err != nil {
			return r.errAt(in, err)
		}
		defer release()
		lower = dir
	}
	var layer io.Reader
	if dirs := missingDirs(lower, st.config.WorkingDir); len(dirs) > 0 {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(newDirLayer(pw, dirs)) }()
		layer = pr
	}
	img, err := r.b.eng.CreateImage(ctx, st.image, layer, engine.CommitOptions{Config: &st.config, CreatedBy: createdBy})
	if err != nil {
		return r.errAt(in, err)
	}
	return r.done(st, key, img.ID)
}

// copy runs COPY and ADD: the layer is written to a file first, because its
// digest decides whether the cache already has the step.
func (r *buildRun) copy(ctx context.Context, st *stageState, in Instruction, lx lexer) error {
	var words []string
	for _, a := range in.Args {
		w, err := lx.word(a)
		if err != nil {
			return r.errAt(in, err)
		}
		words = append(words, w)
	}
	dest := words[len(words)-1]
	if !path.IsAbs(dest) {
		wd := st.config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		trail := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
		dest = path.Join(wd, dest)
		if trail {
			dest += "/"
		}
	}
	req := copyRequest{srcs: words[:len(words)-1], dest: dest, root: r.ctxDir, ignore: r.ignore, add: in.Cmd == "add", now: time.Now()}
	var releases []func()
	defer func() {
		for _, rel := range releases {
			rel()
		}
	}()
	mount := func(id string) (string, error) {
		dir, release, err := r.mountImage(ctx, id)
		if err != nil {
			return "", err
		}
		releases = append(releases, release)
		return dir, nil
	}
	if from := in.Flags["from"]; from != "" {
		id, ok := r.stageIDs[strings.ToLower(from)]
		if !ok {
			img, err := r.b.eng.Image(ctx, from)
			if errors.Is(err, engine.ErrImageNotFound) {
				img, err = r.pull(ctx, from)
			}
			if err != nil {
				return r.errAt(in, err)
			}
			id = img.ID
		}
		root, err := mount(id)
		if err != nil {
			return r.errAt(in, err)
		}
		req.root, req.ignore = root, nil
	}
	if st.image != "" {
		lower, err := mount(st.image)
		if err != nil {
			return r.errAt(in, err)
		}
		req.lower = lower
	}
	if chown := in.Flags["chown"]; chown != "" {
		uid, gid, err := resolveOwner(req.lower, chown)
		if err != nil {
			return r.errAt(in, err)
		}
		req.uid, req.gid = uid, gid
	}
	if chmod := in.Flags["chmod"]; chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil {
			return r.errAt(in, fmt.Errorf("invalid chmod %q", chmod))
		}
		fm := os.FileMode(m)
		req.chmod = &fm
	}
	f, err := os.CreateTemp(r.b.dir, "layer-*.tar")
	if err != nil {
		return r.errAt(in, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	digest, err := copyLayer(req, f)
	if err != nil {
		return fmt.Errorf("%s failed: %w", strings.ToUpper(in.Cmd), err)
	}
	createdBy := fmt.Sprintf("%s%s %s in %s ", nop, strings.ToUpper(in.Cmd), digest, dest)
	key := cacheKey(st.image, createdBy, configKey(st.config))
	if r.cached(ctx, st, key) {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	img, err := r.b.eng.CreateImage(ctx, st.image, f, engine.CommitOptions{Config: &st.config, CreatedBy: createdBy})
	if err != nil {
		return r.errAt(in, err)
	}
	return r.done(st, key, img.ID)
}

// run executes RUN in a container without network and commits its changes.
// The container is removed whatever happens.
func (r *buildRun) run(ctx context.Context, st *stageState, in Instruction) (retErr error) {
	argv := command(st, in)
	// ARG values reach RUN through the environment, and take part in the
	// cache key, as with the legacy builder; ENV wins on a clash.
	var argEnv []string
	for k, v := range st.args {
		if _, isEnv := lookupEnv(st.config.Env, k); !isEnv {
			argEnv = append(argEnv, k+"="+v)
		}
	}
	sort.Strings(argEnv)
	createdBy := strings.Join(argv, " ")
	if len(argEnv) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(argEnv), strings.Join(argEnv, " "), createdBy)
	}
	key := cacheKey(st.image, "RUN", jsonString(argv), jsonString(argEnv), configKey(st.config))
	if r.cached(ctx, st, key) {
		return nil
	}
	spec := engine.ContainerSpec{
		Image:      st.image,
		Entrypoint: argv[:1],
		Cmd:        argv[1:],
		Env:        append(append([]string{}, st.config.Env...), argEnv...),
		User:       st.config.User,
		WorkingDir: st.config.WorkingDir,
		NetNS:      engine.NetworkNone,
		Labels:     map[string]string{"berth.build": "run"},
	}
	c, err := r.b.eng.Create(ctx, spec)
	if err != nil {
		return r.errAt(in, err)
	}
	fmt.Fprintf(r.out, " ---> Running in %s\n", shortID(c.ID))
	removed := false
	defer func() {
		if !removed {
			r.removeContainer(ctx, c.ID, true)
		}
	}()
	if err := r.b.eng.Start(ctx, c.ID); err != nil {
		return r.errAt(in, err)
	}
	// Following the log from its start (rather than attaching before Start)
	// streams the output while the step runs and still gets all of it when
	// the process exits at once; Logs returns once the exit is drained.
	logDone := make(chan error, 1)
	go func() {
		logDone <- r.b.eng.Logs(ctx, c.ID, engine.LogOptions{Follow: true}, func(le engine.LogEntry) error {
			_, err := r.out.Write(le.Line)
			return err
		})
	}()
	state, err := r.b.eng.Wait(ctx, c.ID, engine.WaitNotRunning)
	if err != nil {
		return r.errAt(in, err)
	}
	if err := <-logDone; err != nil {
		return r.errAt(in, err)
	}
	if state.ExitCode != 0 {
		return fmt.Errorf("The command '%s' returned a non-zero code: %d", strings.Join(argv, " "), state.ExitCode)
	}
	cfg := st.config
	img, err := r.b.eng.Commit(ctx, c.ID, engine.CommitOptions{Config: &cfg, CreatedBy: createdBy})
	if err != nil {
		return r.errAt(in, err)
	}
	removed = true
	r.removeContainer(ctx, c.ID, true)
	return r.done(st, key, img.ID)
}

func lookupEnv(env []string, k string) (string, bool) {
	for _, e := range env {
		if name, v, ok := strings.Cut(e, "="); ok && name == k {
			return v, true
		}
	}
	return "", false
}

// removeContainer removes a build container with a context of its own: a
// canceled build must still not leave it behind.
func (r *buildRun) removeContainer(ctx context.Context, id string, announce bool) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.b.eng.RemoveContainer(rctx, id, engine.RemoveOptions{Force: true}); err != nil {
		r.b.log.Error("remove build container", "id", id, "err", err)
		return
	}
	if announce {
		fmt.Fprintf(r.out, "Removing intermediate container %s\n", shortID(id))
	}
}

// mountImage gives access to an image's files (COPY --from, WORKDIR,
// --chown names): a container that never starts has the image's overlay
// mounted as its rootfs. release removes it (a failure is logged: the
// build's result does not depend on it).
func (r *buildRun) mountImage(ctx context.Context, id string) (string, func(), error) {
	c, err := r.b.eng.Create(ctx, engine.ContainerSpec{
		Image:      id,
		Entrypoint: []string{"/berth-build-never-runs"},
		NetNS:      engine.NetworkNone,
		Labels:     map[string]string{"berth.build": "mount"},
	})
	if err != nil {
		return "", nil, fmt.Errorf("mount image %s: %w", shortID(id), err)
	}
	return c.Rootfs, func() { r.removeContainer(ctx, c.ID, false) }, nil
}
