package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/engine"
)

// fakeEngine stores images in memory; a "container" runs nothing: its
// output is the command line, and a command containing "exit N" exits N.
// Every container's rootfs is one directory of files the test provides.
type fakeEngine struct {
	t          *testing.T
	images     map[string]*engine.Image
	tags       map[string]string
	layers     map[string][]string // image ID -> names in the layer it added
	containers map[string]engine.ContainerSpec
	rootfs     string
	created    int
	removed    int
}

func newFakeEngine(t *testing.T) *fakeEngine {
	f := &fakeEngine{t: t, images: map[string]*engine.Image{}, tags: map[string]string{},
		layers: map[string][]string{}, containers: map[string]engine.ContainerSpec{}, rootfs: t.TempDir()}
	base := &engine.Image{ID: "sha256:" + strings.Repeat("b", 64), Config: v1.ConfigFile{Config: v1.Config{
		Env: []string{"PATH=/usr/bin:/bin"}, Cmd: []string{"sh"}}}}
	f.images[base.ID], f.tags["busybox"] = base, base.ID
	return f
}

func (f *fakeEngine) Image(ctx context.Context, ref string) (*engine.Image, error) {
	if id, ok := f.tags[ref]; ok {
		ref = id
	}
	if img, ok := f.images[ref]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("%w: %s", engine.ErrImageNotFound, ref)
}

func (f *fakeEngine) Pull(ctx context.Context, ref string, opts engine.PullOptions) (*engine.Image, error) {
	return nil, fmt.Errorf("%w: %s (no registry in this test)", engine.ErrImageNotFound, ref)
}

func (f *fakeEngine) CreateImage(ctx context.Context, parent string, layer io.Reader, opts engine.CommitOptions) (*engine.Image, error) {
	cf := v1.ConfigFile{}
	if parent != "" {
		p, err := f.Image(ctx, parent)
		if err != nil {
			return nil, err
		}
		cf = *p.Config.DeepCopy()
	}
	if opts.Config != nil {
		cf.Config = *opts.Config.DeepCopy()
	}
	cf.History = append(cf.History, v1.History{CreatedBy: opts.CreatedBy, EmptyLayer: layer == nil})
	var names []string
	h := sha256.New()
	b, _ := json.Marshal(cf)
	h.Write(b)
	h.Write([]byte(parent))
	if layer != nil {
		tr := tar.NewReader(io.TeeReader(layer, h))
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			names = append(names, hdr.Name)
		}
	}
	img := &engine.Image{ID: "sha256:" + hex.EncodeToString(h.Sum(nil)), Config: cf}
	f.images[img.ID], f.layers[img.ID] = img, names
	return img, nil
}

func (f *fakeEngine) Tag(ctx context.Context, src, target string) error {
	img, err := f.Image(ctx, src)
	if err != nil {
		return err
	}
	f.tags[target] = img.ID
	return nil
}

func (f *fakeEngine) Create(ctx context.Context, spec engine.ContainerSpec) (*engine.Container, error) {
	f.created++
	id := fmt.Sprintf("%064d", f.created)
	f.containers[id] = spec
	return &engine.Container{ID: id, Spec: spec, Rootfs: f.rootfs}, nil
}

func (f *fakeEngine) Start(ctx context.Context, ref string) error { return nil }

func (f *fakeEngine) argv(ref string) string {
	s := f.containers[ref]
	return strings.Join(append(append([]string{}, s.Entrypoint...), s.Cmd...), " ")
}

func (f *fakeEngine) Wait(ctx context.Context, ref string, cond engine.WaitCondition) (*engine.ContainerState, error) {
	code := 0
	if _, after, ok := strings.Cut(f.argv(ref), "exit "); ok {
		fmt.Sscanf(after, "%d", &code)
	}
	return &engine.ContainerState{Status: engine.StatusExited, ExitCode: code}, nil
}

func (f *fakeEngine) Logs(ctx context.Context, ref string, opts engine.LogOptions, fn func(engine.LogEntry) error) error {
	return fn(engine.LogEntry{Stream: "stdout", Line: []byte("ran: " + f.argv(ref) + " env=" + strings.Join(f.containers[ref].Env, ",") + "\n")})
}

func (f *fakeEngine) Commit(ctx context.Context, id string, opts engine.CommitOptions) (*engine.Image, error) {
	return f.CreateImage(ctx, f.containers[id].Image, nil, opts)
}

func (f *fakeEngine) RemoveContainer(ctx context.Context, ref string, opts engine.RemoveOptions) error {
	f.removed++
	delete(f.containers, ref)
	return nil
}

// contextTar makes a build context from files.
func contextTar(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return &buf
}

func build(t *testing.T, f *fakeEngine, b *Builder, files map[string]string, opts Options) (Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	opts.Context, opts.Out = contextTar(t, files), &out
	res, err := b.Build(context.Background(), opts)
	return res, out.String(), err
}

func newTestBuilder(t *testing.T, f *fakeEngine) *Builder {
	b, err := New(Config{Engine: f, Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildSeedAndCache(t *testing.T) {
	f := newFakeEngine(t)
	f.tags["node:slim"] = f.tags["busybox"]
	b := newTestBuilder(t, f)
	files := map[string]string{"Dockerfile": "FROM node:slim\nEXPOSE 8000\nCOPY hello.js .\nCMD node hello.js\n", "hello.js": "x"}
	res, out, err := build(t, f, b, files, Options{Tags: []string{"kubetm/hello"}})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	short := strings.TrimPrefix(res.ID, "sha256:")[:12]
	for _, want := range []string{"Step 1/4 : FROM node:slim\n ---> bbbbbbbbbbbb\n", "Step 2/4 : EXPOSE 8000\n",
		"Step 4/4 : CMD node hello.js\n ---> " + short + "\n", "Successfully built " + short + "\n",
		"Successfully tagged kubetm/hello:latest\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	img := f.images[res.ID]
	if got := img.Config.Config.Cmd; !reflect.DeepEqual(got, []string{"/bin/sh", "-c", "node hello.js"}) {
		t.Errorf("Cmd = %q", got)
	}
	if _, ok := img.Config.Config.ExposedPorts["8000/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v, want 8000/tcp", img.Config.Config.ExposedPorts)
	}
	var copied []string
	for id, names := range f.layers {
		if len(names) > 0 && id != res.ID {
			copied = names
		}
	}
	if !reflect.DeepEqual(copied, []string{"hello.js"}) {
		t.Errorf("COPY layer = %q, want [hello.js] at the root (no WORKDIR)", copied)
	}

	res2, out2, err := build(t, f, b, files, Options{Tags: []string{"kubetm/hello"}})
	if err != nil || res2.ID != res.ID || strings.Count(out2, " ---> Using cache\n") != 3 {
		t.Errorf("rebuild: id %s (first %s), %v, output:\n%s", res2.ID, res.ID, err, out2)
	}
	files["hello.js"] = "changed"
	res3, out3, err := build(t, f, b, files, Options{})
	if err != nil || res3.ID == res.ID || strings.Count(out3, "Using cache") != 1 {
		t.Errorf("changed COPY source: want a new image and only EXPOSE cached; %v\n%s", err, out3)
	}
}

func TestBuildStagesArgsAndRun(t *testing.T) {
	f := newFakeEngine(t)
	if err := os.WriteFile(filepath.Join(f.rootfs, "artifact"), []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := newTestBuilder(t, f)
	v := "from-arg"
	files := map[string]string{"Dockerfile": `ARG BASE=busybox
FROM $BASE AS build
ARG GREETING
ENV WHO=world
RUN echo "$GREETING $WHO"
FROM scratch
COPY --from=build /artifact /app/
ENTRYPOINT ["/app/artifact"]
LABEL who=${WHO:-nobody}
`}
	res, out, err := build(t, f, b, files, Options{BuildArgs: map[string]*string{"GREETING": &v}})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Step 1/9 : ARG BASE=busybox") || !strings.Contains(out, "GREETING=from-arg") {
		t.Errorf("RUN did not see the build arg in its environment:\n%s", out)
	}
	cfg := f.images[res.ID].Config.Config
	if !reflect.DeepEqual(cfg.Entrypoint, []string{"/app/artifact"}) || cfg.Cmd != nil {
		t.Errorf("Entrypoint %q Cmd %q, want exec form and no Cmd", cfg.Entrypoint, cfg.Cmd)
	}
	if cfg.Labels["who"] != "nobody" {
		t.Errorf("LABEL in a stage without ENV WHO = %q, want the default", cfg.Labels["who"])
	}
	if f.removed != f.created {
		t.Errorf("%d containers created, %d removed", f.created, f.removed)
	}
}

func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"failing RUN", map[string]string{"Dockerfile": "FROM busybox\nRUN exit 4\n"}, "The command '/bin/sh -c exit 4' returned a non-zero code: 4"},
		{"missing base", map[string]string{"Dockerfile": "FROM nope:1\n"}, "pull nope:1"},
		{"missing COPY source", map[string]string{"Dockerfile": "FROM busybox\nCOPY gone /\n"}, "COPY failed: file not found in build context"},
		{"unknown instruction", map[string]string{"Dockerfile": "FROM busybox\nFOO\n"}, "unknown instruction: FOO"},
		{"no Dockerfile", map[string]string{"x": "y"}, "Cannot locate specified Dockerfile: Dockerfile"},
		{"unknown target", map[string]string{"Dockerfile": "FROM busybox AS a\n"}, "failed to reach build target nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t)
			b := newTestBuilder(t, f)
			opts := Options{Tags: []string{"bad"}}
			if tc.name == "unknown target" {
				opts.Target = "nope"
			}
			_, out, err := build(t, f, b, tc.files, opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("build error = %v, want %q\n%s", err, tc.wantErr, out)
			}
			if _, tagged := f.tags["bad"]; tagged {
				t.Error("a failed build tagged its image")
			}
			if len(f.containers) != 0 {
				t.Errorf("%d containers left", len(f.containers))
			}
		})
	}
}

func TestApplyChanges(t *testing.T) {
	cfg, err := ApplyChanges(v1.Config{Env: []string{"A=0", "PATH=/bin"}}, []string{`CMD ["/bin/sh"]`, "ENV A=1 B=2", "EXPOSE 80/udp", "WORKDIR /srv"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Cmd, []string{"/bin/sh"}) || !reflect.DeepEqual(cfg.Env, []string{"A=1", "PATH=/bin", "B=2"}) || cfg.WorkingDir != "/srv" {
		t.Errorf("config = %+v", cfg)
	}
	if _, err := ApplyChanges(v1.Config{}, []string{"RUN rm -rf /"}); err == nil {
		t.Error("RUN accepted as a change")
	}
}

func TestBuildRecordsHealthcheck(t *testing.T) {
	f := newFakeEngine(t)
	b := newTestBuilder(t, f)
	files := map[string]string{"Dockerfile": "FROM busybox\nHEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost\n"}
	res, out, err := build(t, f, b, files, Options{})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	hc := f.images[res.ID].Config.Config.Healthcheck
	if hc == nil || !reflect.DeepEqual(hc.Test, []string{"CMD-SHELL", "wget -q localhost"}) || hc.Interval != 5*time.Second || hc.Retries != 2 {
		t.Errorf("Healthcheck = %+v", hc)
	}
}
