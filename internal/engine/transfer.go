package engine

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// spool copies r into a temp file under the store, for tar readers that
// need to seek or reopen; the caller removes it.
func (e *Engine) spool(r io.Reader) (string, error) {
	f, err := os.CreateTemp(filepath.Join(e.images.root, "tmp"), "spool-")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// ImportRootfs makes a one-layer image from a rootfs tar (plain or gzip),
// like `docker import`.
func (e *Engine) ImportRootfs(ctx context.Context, r io.Reader, opts ImportOptions) (*Image, error) {
	var refs []Reference
	if opts.Ref != "" {
		ref, err := ParseReference(opts.Ref)
		if err != nil || ref.Digest != "" {
			return nil, fmt.Errorf("%w: import tag %q", ErrInvalid, opts.Ref)
		}
		refs = append(refs, ref)
	}
	path, err := e.spool(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.Remove(path)
	if err := checkTar(path); err != nil {
		return nil, fmt.Errorf("%w: import: %w", ErrInvalid, err)
	}
	layer, err := tarball.LayerFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: time.Now().UTC()}, CreatedBy: "berth import", Comment: opts.Comment},
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	img, err = withConfig(img, opts.Config, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	id, err := e.images.put(img, refs, "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return e.Image(ctx, id)
}

// checkTar fails unless the file is a tar archive (optionally gzipped)
// whose entries all read, so a malformed upload leaves no image behind.
func checkTar(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	br := bufio.NewReader(f)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("bad gzip: %w", err)
		}
		r = zr
	} else {
		r = br
	}
	tr := tar.NewReader(r)
	n := 0
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not a valid tar archive: %w", err)
		}
		n++
	}
	if n == 0 {
		return errors.New("not a valid tar archive: no entries")
	}
	return nil
}

// withConfig sets the config, OS/arch and creation time of an image.
func withConfig(img v1.Image, cfg *v1.Config, created time.Time) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if cfg != nil {
		cf.Config = *cfg
	}
	if cf.OS == "" {
		cf.OS, cf.Architecture = "linux", hostArch()
	}
	if created.IsZero() {
		created = time.Now().UTC()
	}
	cf.Created = v1.Time{Time: created}
	return mutate.ConfigFile(img, cf)
}

// Load reads a docker-archive tar (`docker save` output, gzip allowed) and
// stores its images. It returns the familiar tags loaded, or image IDs
// for untagged images.
func (e *Engine) Load(ctx context.Context, r io.Reader) ([]string, error) {
	path, err := e.spool(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.Remove(path)
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	mf, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%w: load: not a docker image archive: %w", ErrInvalid, err)
	}
	var loaded []string
	for _, d := range mf {
		var refs []Reference
		var tag *name.Tag
		for _, t := range d.RepoTags {
			ref, err := ParseReference(t)
			if err != nil || ref.Digest != "" {
				return loaded, fmt.Errorf("%w: load: bad tag %q in archive", ErrInvalid, t)
			}
			refs = append(refs, ref)
			if tag == nil {
				nt, err := name.NewTag(t)
				if err != nil {
					return loaded, fmt.Errorf("%w: load: bad tag %q: %w", ErrInvalid, t, err)
				}
				tag = &nt
			}
		}
		if tag == nil && len(mf) > 1 {
			return loaded, fmt.Errorf("%w: load: archives with several untagged images are not supported", ErrInvalid)
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return loaded, fmt.Errorf("load: %w", err)
		}
		id, err := e.images.put(img, refs, "")
		if err != nil {
			return loaded, fmt.Errorf("load: %w", err)
		}
		if len(refs) == 0 {
			loaded = append(loaded, id)
		}
		for _, r := range refs {
			loaded = append(loaded, r.Familiar())
		}
	}
	return loaded, nil
}

// Save writes the images refs name as one docker-archive tar (`docker save`).
func (e *Engine) Save(ctx context.Context, w io.Writer, refs []string) error {
	m := map[name.Reference]v1.Image{}
	for _, ref := range refs {
		id, err := e.images.resolve(ref)
		if err != nil {
			return err
		}
		img, err := e.storedImageByID(id)
		if err != nil {
			return err
		}
		nref, err := saveName(ref, id)
		if err != nil {
			return err
		}
		m[nref] = img
	}
	if err := tarball.MultiRefWrite(m, w); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// saveName is the name recorded in the archive: the tag the user named,
// or the image's digest when saved by ID.
func saveName(ref, id string) (name.Reference, error) {
	if r, err := ParseReference(ref); err == nil && r.Digest == "" && !strings.HasPrefix(ref, "sha256:") && !isHexPrefix(ref) {
		return name.NewTag(r.Familiar())
	}
	return name.NewDigest("sha256@" + id)
}

func (e *Engine) storedImageByID(id string) (v1.Image, error) {
	e.images.mu.Lock()
	rec, ok := e.images.index.Images[id]
	e.images.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrImageNotFound, id)
	}
	h, err := v1.NewHash(rec.Manifest)
	if err != nil {
		return nil, err
	}
	return e.images.image(h)
}

// remoteOptions are the go-containerregistry options for one endpoint.
func (e *Engine) remoteOptions(ctx context.Context, regs *Registries, ep endpoint, creds *Credentials, kc authn.Keychain) ([]remote.Option, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: hostArch()})}
	switch a := regs.authFor(ep.Host); {
	case creds != nil:
		opts = append(opts, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: creds.Username, Password: creds.Password,
			Auth: creds.Auth, IdentityToken: creds.IdentityToken, RegistryToken: creds.RegistryToken})))
	case a != nil:
		opts = append(opts, remote.WithAuth(a))
	case kc != nil:
		opts = append(opts, remote.WithAuthFromKeychain(kc))
	default:
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	t, err := regs.transportFor(ep.Host)
	if err != nil {
		return nil, err
	}
	return append(opts, remote.WithTransport(t)), nil
}

// Pull fetches ref from its registry (or the mirrors DATA_DIR/registries.yaml
// names for it, in order) and stores it. The image keeps the name the user
// gave, whatever endpoint served it.
func (e *Engine) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, ref, err)
	}
	regs, err := LoadRegistries(filepath.Join(e.cfg.Root, "registries.yaml"))
	if err != nil {
		return nil, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	var errs []error
	for _, ep := range regs.endpoints(r.Registry) {
		nref, err := r.nameRef(ep.Host, ep.Insecure)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, ref, err)
		}
		ropts, err := e.remoteOptions(ctx, regs, ep, creds(opts.Credentials), opts.Keychain)
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(nref, ropts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return e.storePulled(ctx, r, img, progress)
	}
	err = errors.Join(errs...)
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: pull %s: %w", ErrImageNotFound, r.Familiar(), err)
	}
	return nil, fmt.Errorf("pull %s: %w", r.Familiar(), err)
}

// creds drops empty credentials so registries.yaml's apply instead.
func creds(c *Credentials) *Credentials {
	if c == nil || (c.Username == "" && c.Password == "" && c.Auth == "" && c.IdentityToken == "" && c.RegistryToken == "") {
		return nil
	}
	return c
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "MANIFEST_UNKNOWN") || strings.Contains(s, "NAME_UNKNOWN") || strings.Contains(s, "status code 404")
}

func (e *Engine) storePulled(ctx context.Context, r Reference, img v1.Image, progress ProgressFunc) (*Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Familiar(), err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		status := "Pulling fs layer"
		if diff, err := l.DiffID(); err == nil {
			if _, err := os.Stat(e.images.layerDir(diff)); err == nil {
				status = "Already exists"
			}
		}
		progress(Progress{ID: d.Hex[:12], Status: status})
	}
	md, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Familiar(), err)
	}
	var refs []Reference
	if r.Digest == "" {
		refs = append(refs, r)
	}
	repoDigest := r.Name() + "@" + md.String()
	id, err := e.images.put(img, refs, repoDigest)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Familiar(), err)
	}
	for _, l := range layers {
		if d, err := l.Digest(); err == nil {
			progress(Progress{ID: d.Hex[:12], Status: "Pull complete"})
		}
	}
	progress(Progress{ID: r.Familiar(), Status: "Digest: " + md.String()})
	return e.Image(ctx, id)
}

// Push uploads the image ref names to its registry, or to the first mirror
// registries.yaml lists for it (so `docker push kubetm/hello` lands in the
// cluster registry). It returns the manifest digest.
func (e *Engine) Push(ctx context.Context, ref string, opts PushOptions) (string, error) {
	r, err := ParseReference(ref)
	if err != nil || r.Digest != "" {
		return "", fmt.Errorf("%w: push %s: need a name:tag", ErrInvalid, ref)
	}
	id, err := e.images.resolve(r.String())
	if err != nil {
		return "", err
	}
	img, err := e.storedImageByID(id)
	if err != nil {
		return "", err
	}
	regs, err := LoadRegistries(filepath.Join(e.cfg.Root, "registries.yaml"))
	if err != nil {
		return "", err
	}
	ep := regs.endpoints(r.Registry)[0]
	nref, err := r.nameRef(ep.Host, ep.Insecure)
	if err != nil {
		return "", fmt.Errorf("%w: push %s: %w", ErrInvalid, ref, err)
	}
	ropts, err := e.remoteOptions(ctx, regs, ep, creds(opts.Credentials), opts.Keychain)
	if err != nil {
		return "", err
	}
	if opts.Progress != nil {
		if layers, err := img.Layers(); err == nil {
			for _, l := range layers {
				if d, err := l.Digest(); err == nil {
					opts.Progress(Progress{ID: d.Hex[:12], Status: "Preparing"})
				}
			}
		}
	}
	if err := remote.Write(nref, img, ropts...); err != nil {
		return "", fmt.Errorf("push %s: %w", r.Familiar(), err)
	}
	md, err := img.Digest()
	if err != nil {
		return "", err
	}
	if opts.Progress != nil {
		if layers, err := img.Layers(); err == nil {
			for _, l := range layers {
				if d, err := l.Digest(); err == nil {
					opts.Progress(Progress{ID: d.Hex[:12], Status: "Pushed"})
				}
			}
		}
	}
	e.images.mu.Lock()
	defer e.images.mu.Unlock()
	if rec := e.images.index.Images[id]; rec != nil {
		if d := r.Name() + "@" + md.String(); !contains(rec.RepoDigests, d) {
			rec.RepoDigests = append(rec.RepoDigests, d)
			if err := e.images.saveLocked(); err != nil {
				return "", err
			}
		}
	}
	return md.String(), nil
}

// CreateImage makes a child of parent (a reference or ID; "" for scratch)
// with one new layer read from layer (an uncompressed tar; nil adds no
// layer, e.g. for ENV or CMD steps) and records a history entry.
func (e *Engine) CreateImage(ctx context.Context, parent string, layer io.Reader, opts CommitOptions) (*Image, error) {
	var refs []Reference
	if opts.Ref != "" {
		r, err := ParseReference(opts.Ref)
		if err != nil || r.Digest != "" {
			return nil, fmt.Errorf("%w: tag %q", ErrInvalid, opts.Ref)
		}
		refs = append(refs, r)
	}
	base := empty.Image
	if parent != "" {
		id, err := e.images.resolve(parent)
		if err != nil {
			return nil, err
		}
		if base, err = e.storedImageByID(id); err != nil {
			return nil, err
		}
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	hist := v1.History{Created: v1.Time{Time: created}, CreatedBy: opts.CreatedBy, Comment: opts.Comment, Author: opts.Author}
	add := mutate.Addendum{History: hist}
	if layer != nil {
		path, err := e.spool(layer)
		if err != nil {
			return nil, fmt.Errorf("create image: %w", err)
		}
		defer os.Remove(path)
		l, err := tarball.LayerFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("create image: %w", err)
		}
		add.Layer = l
	} else {
		add.History.EmptyLayer = true
	}
	img, err := mutate.Append(base, add)
	if err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	if opts.Author != "" {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.Author = opts.Author
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
	}
	if img, err = withConfig(img, opts.Config, created); err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	id, err := e.images.put(img, refs, "")
	if err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	return e.Image(ctx, id)
}

// Commit turns a container's changes (its upper dir) into a new image on
// top of the container's image, like `docker commit`. The container may be
// running; its changes so far are taken.
func (e *Engine) Commit(ctx context.Context, id string, opts CommitOptions) (*Image, error) {
	c, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeDiff(c.meta.UpperDir, pw)) }()
	img, err := e.CreateImage(ctx, c.meta.ImageID, pr, opts)
	pr.CloseWithError(err)
	return img, err
}
