package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageStore keeps blobs, unpacked layers and the tag index under root.
type imageStore struct {
	root  string
	blobs layout.Path

	// gcMu keeps gcImages from deleting blobs and layers that a put is
	// writing but has not recorded yet: puts share it, gc takes it alone.
	gcMu sync.RWMutex

	mu    sync.Mutex
	index imageIndex
	cfgs  map[string]*v1.ConfigFile // by image ID, read lazily
}

// imageIndex is images.json.
type imageIndex struct {
	Images map[string]*imageRecord `json:"images"` // by ID (config digest)
	Tags   map[string]string       `json:"tags"`   // canonical name:tag -> ID
	Layers map[string]int64        `json:"layers"` // diffID -> unpacked size
}

type imageRecord struct {
	Manifest    string    `json:"manifest"`
	RepoDigests []string  `json:"repoDigests,omitempty"` // canonical name@digest
	Loaded      time.Time `json:"loaded"`
}

func openImageStore(root string) (*imageStore, error) {
	s := &imageStore{root: root, blobs: layout.Path(root), cfgs: map[string]*v1.ConfigFile{}}
	for _, d := range []string{"blobs/sha256", "l", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Leftovers of interrupted unpacks and imports.
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(root, "tmp", e.Name()))
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "images.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.index); err != nil {
			return nil, fmt.Errorf("images.json: %w", err)
		}
	}
	if s.index.Images == nil {
		s.index.Images = map[string]*imageRecord{}
	}
	if s.index.Tags == nil {
		s.index.Tags = map[string]string{}
	}
	if s.index.Layers == nil {
		s.index.Layers = map[string]int64{}
	}
	return s, nil
}

// saveLocked writes images.json crash-safely. Callers hold s.mu.
func (s *imageStore) saveLocked() error {
	b, err := json.MarshalIndent(&s.index, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.root, "images.json"), b, true)
}

// writeFileAtomic writes a file so readers see the old or the new content,
// never a torn one. With durable it also survives a power loss (fsync),
// which costs milliseconds on a disk busy with etcd.
func writeFileAtomic(path string, b []byte, durable bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// layerDir is the unpacked directory of a layer. The short name keeps the
// overlay mount options (one page) able to hold many lower dirs.
func (s *imageStore) layerDir(diffID v1.Hash) string {
	return filepath.Join(s.root, "l", diffID.Hex[:16])
}

// put stores img (blobs, unpacked layers) and points refs at it.
func (s *imageStore) put(img v1.Image, refs []Reference, repoDigest string) (string, error) {
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	if err := s.blobs.WriteImage(img); err != nil {
		return "", fmt.Errorf("write blobs: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	md, err := img.Digest()
	if err != nil {
		return "", err
	}
	stored, err := s.image(md)
	if err != nil {
		return "", err
	}
	if err := s.unpack(stored); err != nil {
		return "", err
	}
	id := cfgName.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.index.Images[id]
	if rec == nil {
		rec = &imageRecord{Loaded: time.Now().UTC()}
		s.index.Images[id] = rec
	}
	rec.Manifest = md.String()
	if repoDigest != "" && !contains(rec.RepoDigests, repoDigest) {
		rec.RepoDigests = append(rec.RepoDigests, repoDigest)
	}
	for _, r := range refs {
		s.index.Tags[r.String()] = id
	}
	return id, s.saveLocked()
}

// unpack makes sure every layer of img has its directory. Layer dirs are
// named by diff ID. The config's diff IDs name them without reading the
// layers (go-containerregistry's DiffID() gunzips and hashes a whole layer:
// ~1.2 s per image on node:slim), and a layer that is unpacked is hashed in
// the same pass and must match, so a config that lies can never put its
// content in another layer's directory.
func (s *imageStore) unpack(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	for i, l := range layers {
		var diffID v1.Hash
		if i < len(cf.RootFS.DiffIDs) {
			diffID = cf.RootFS.DiffIDs[i]
		} else if diffID, err = l.DiffID(); err != nil {
			return err
		}
		dir := s.layerDir(diffID)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		n, err := s.unpackVerified(l, diffID, dir)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.index.Layers[diffID.String()] = n
		s.mu.Unlock()
	}
	return nil
}

// unpackVerified unpacks l into dir (through a temporary directory), hashing
// the uncompressed stream as it goes; it fails if the hash is not diffID.
func (s *imageStore) unpackVerified(l v1.Layer, diffID v1.Hash, dir string) (n int64, retErr error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "layer-")
	if err != nil {
		return 0, err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(tmp)
		}
	}()
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	if n, err = unpackLayer(tee, tmp); err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	// The tar reader stops at the end-of-archive marker; the padding after
	// it is part of what the diff ID hashes.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return 0, fmt.Errorf("read layer %s: %w", diffID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); diffID.Algorithm != "sha256" || got != diffID.Hex {
		return 0, fmt.Errorf("layer %s: content hashes to sha256:%s", diffID, got)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another pull unpacked the same layer first.
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr != nil {
			return 0, err
		}
	}
	return n, nil
}

// image opens a stored image by manifest digest.
func (s *imageStore) image(manifest v1.Hash) (v1.Image, error) {
	raw, err := s.blobs.Bytes(manifest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", manifest, err)
	}
	return partial.CompressedToImage(&storedImage{s: s, raw: raw})
}

// storedImage is a v1.Image read from the blob directory.
type storedImage struct {
	s   *imageStore
	raw []byte
}

func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *storedImage) MediaType() (types.MediaType, error) {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(i.raw, &m); err != nil {
		return "", err
	}
	if m.MediaType == "" {
		return types.OCIManifestSchema1, nil
	}
	return m.MediaType, nil
}

func (i *storedImage) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	return i.s.blobs.Bytes(m.Config.Digest)
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return &storedBlob{s: i.s, desc: m.Config}, nil
	}
	for _, d := range m.Layers {
		if d.Digest == h {
			return &storedBlob{s: i.s, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("blob %s not in image", h)
}

type storedBlob struct {
	s    *imageStore
	desc v1.Descriptor
}

func (b *storedBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *storedBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *storedBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *storedBlob) Compressed() (io.ReadCloser, error)  { return b.s.blobs.Blob(b.desc.Digest) }

// resolve finds an image ID by reference, ID, ID prefix (at least 4 hex
// characters as docker requires no minimum but 4 avoids surprises) or
// repo digest.
func (s *imageStore) resolve(ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolveLocked(ref)
}

func (s *imageStore) resolveLocked(ref string) (string, error) {
	if h, ok := strings.CutPrefix(ref, "sha256:"); ok {
		return s.idByPrefix(ref, h)
	}
	if isHexPrefix(ref) {
		if id, err := s.idByPrefix(ref, ref); err == nil {
			return id, nil
		}
	}
	r, err := ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrInvalid, ref, err)
	}
	if r.Digest != "" {
		want := r.String()
		for id, rec := range s.index.Images {
			if contains(rec.RepoDigests, want) {
				return id, nil
			}
		}
		return "", fmt.Errorf("%w: %s", ErrImageNotFound, ref)
	}
	if id, ok := s.index.Tags[r.String()]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%w: %s", ErrImageNotFound, r.Familiar())
}

func (s *imageStore) idByPrefix(ref, hexPrefix string) (string, error) {
	var found []string
	for id := range s.index.Images {
		if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hexPrefix) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: %s", ErrImageNotFound, ref)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w: %s", ErrAmbiguous, ref)
}

func isHexPrefix(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// configFile returns the image config of id.
func (s *imageStore) configFile(id string) (*v1.ConfigFile, error) {
	s.mu.Lock()
	cf, ok := s.cfgs[id]
	s.mu.Unlock()
	if ok {
		return cf, nil
	}
	h, err := v1.NewHash(id)
	if err != nil {
		return nil, err
	}
	b, err := s.blobs.Bytes(h)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", id, err)
	}
	cf, err = v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", id, err)
	}
	s.mu.Lock()
	s.cfgs[id] = cf
	s.mu.Unlock()
	return cf, nil
}

// describe builds the public Image of id. Callers hold s.mu.
func (s *imageStore) describeLocked(id string) (*Image, error) {
	rec, ok := s.index.Images[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrImageNotFound, id)
	}
	s.mu.Unlock()
	cf, err := s.configFile(id)
	s.mu.Lock()
	if err != nil {
		return nil, err
	}
	img := &Image{ID: id, ManifestDigest: rec.Manifest, Created: cf.Created.Time, Config: *cf}
	for ref, tid := range s.index.Tags {
		if tid != id {
			continue
		}
		if r, err := ParseReference(ref); err == nil {
			img.RepoTags = append(img.RepoTags, r.Familiar())
		}
	}
	sort.Strings(img.RepoTags)
	for _, d := range rec.RepoDigests {
		if r, err := ParseReference(d); err == nil {
			img.RepoDigests = append(img.RepoDigests, r.Familiar())
		}
	}
	for _, d := range cf.RootFS.DiffIDs {
		img.Size += s.index.Layers[d.String()]
	}
	return img, nil
}

// lowerDirs lists the layer directories of image id, top layer first, as
// overlayfs wants lowerdir.
func (s *imageStore) lowerDirs(id string) ([]string, error) {
	cf, err := s.configFile(id)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(cf.RootFS.DiffIDs))
	for i := len(cf.RootFS.DiffIDs) - 1; i >= 0; i-- {
		dirs = append(dirs, s.layerDir(cf.RootFS.DiffIDs[i]))
	}
	return dirs, nil
}

// Images lists the stored images, newest first.
func (e *Engine) Images(ctx context.Context) ([]Image, error) {
	s := e.images
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Image, 0, len(s.index.Images))
	for _, id := range sortedKeys(s.index.Images) {
		img, err := s.describeLocked(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *img)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Image returns one image by reference ("busybox", "kubetm/hello:v1"),
// ID or unique ID prefix, or repo digest. Errors wrap ErrImageNotFound.
func (e *Engine) Image(ctx context.Context, ref string) (*Image, error) {
	s := e.images
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.resolveLocked(ref)
	if err != nil {
		return nil, err
	}
	return s.describeLocked(id)
}

// Tag points target (a docker-style name; tag defaults to latest) at the
// image src resolves to.
func (e *Engine) Tag(ctx context.Context, src, target string) error {
	r, err := ParseReference(target)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, target, err)
	}
	if r.Digest != "" {
		return fmt.Errorf("%w: refusing to create a tag with a digest reference", ErrInvalid)
	}
	s := e.images
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.resolveLocked(src)
	if err != nil {
		return err
	}
	s.index.Tags[r.String()] = id
	return s.saveLocked()
}

// History returns the image's build steps, newest first, like `docker history`.
func (e *Engine) History(ctx context.Context, ref string) ([]HistoryEntry, error) {
	img, err := e.Image(ctx, ref)
	if err != nil {
		return nil, err
	}
	e.images.mu.Lock()
	layerSize := func(i int) int64 {
		if i < len(img.Config.RootFS.DiffIDs) {
			return e.images.index.Layers[img.Config.RootFS.DiffIDs[i].String()]
		}
		return 0
	}
	var out []HistoryEntry
	li := 0
	for _, h := range img.Config.History {
		he := HistoryEntry{ID: "<missing>", Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer {
			he.Size = layerSize(li)
			li++
		}
		out = append(out, he)
	}
	e.images.mu.Unlock()
	if len(out) == 0 {
		out = append(out, HistoryEntry{Created: img.Created, Size: img.Size})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	out[0].ID, out[0].Tags = img.ID, img.RepoTags
	return out, nil
}

// RemoveImage removes ref like `docker rmi`: a name only untags, unless it
// was the last tag; an ID removes every tag (with force, or if it has one).
// Images used by containers are refused with ErrImageInUse unless force.
// Layers no other image or container uses are deleted.
func (e *Engine) RemoveImage(ctx context.Context, ref string, force bool) (*RemovedImage, error) {
	s := e.images
	s.mu.Lock()
	id, err := s.resolveLocked(ref)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	var tags []string
	for t, tid := range s.index.Tags {
		if tid == id {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	byName := false
	if r, perr := ParseReference(ref); perr == nil && r.Digest == "" && !strings.HasPrefix(ref, "sha256:") {
		if _, ok := s.index.Tags[r.String()]; ok {
			byName = true
			tags = []string{r.String()}
		}
	}
	res := &RemovedImage{}
	others := 0
	for t, tid := range s.index.Tags {
		if tid == id && !contains(tags, t) {
			others++
		}
	}
	deleting := others == 0
	if !byName && len(tags) > 1 && !force {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: image %s is referenced in multiple repositories", ErrImageInUse, shortID(id))
	}
	s.mu.Unlock()
	if deleting && !force {
		if users := e.containersUsingImage(id); len(users) > 0 {
			return nil, fmt.Errorf("%w: unable to delete %s (must be forced) - image is being used by container %s", ErrImageInUse, shortID(id), shortID(users[0]))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tags {
		delete(s.index.Tags, t)
		if r, err := ParseReference(t); err == nil {
			res.Untagged = append(res.Untagged, r.Familiar())
		}
	}
	if deleting {
		rec := s.index.Images[id]
		for _, d := range rec.RepoDigests {
			if r, err := ParseReference(d); err == nil {
				res.Untagged = append(res.Untagged, r.Familiar())
			}
		}
		delete(s.index.Images, id)
		delete(s.cfgs, id)
		res.Deleted = append(res.Deleted, id)
	}
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	if deleting {
		s.mu.Unlock()
		err := e.gcImages()
		s.mu.Lock()
		if err != nil {
			return res, fmt.Errorf("image removed, cleaning its content: %w", err)
		}
	}
	return res, nil
}

// gcImages deletes blobs and layer dirs no stored image and no container uses.
func (e *Engine) gcImages() error {
	s := e.images
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	keepLayers := map[string]bool{}
	for _, dir := range e.containerLowerDirs() {
		keepLayers[filepath.Base(dir)] = true
	}
	s.mu.Lock()
	keepBlobs := map[string]bool{}
	var ids []string
	for id, rec := range s.index.Images {
		ids = append(ids, id)
		keepBlobs[strings.TrimPrefix(rec.Manifest, "sha256:")] = true
		keepBlobs[strings.TrimPrefix(id, "sha256:")] = true
		if h, err := v1.NewHash(rec.Manifest); err == nil {
			if raw, err := s.blobs.Bytes(h); err == nil {
				if m, err := v1.ParseManifest(bytes.NewReader(raw)); err == nil {
					for _, l := range m.Layers {
						keepBlobs[l.Digest.Hex] = true
					}
				}
			}
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		if dirs, err := s.lowerDirs(id); err == nil {
			for _, d := range dirs {
				keepLayers[filepath.Base(d)] = true
			}
		}
	}
	var errs []error
	blobDir := filepath.Join(s.root, "blobs", "sha256")
	if ents, err := os.ReadDir(blobDir); err == nil {
		for _, ent := range ents {
			if !keepBlobs[ent.Name()] {
				errs = append(errs, os.Remove(filepath.Join(blobDir, ent.Name())))
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(s.root, "l")); err == nil {
		for _, ent := range ents {
			if !keepLayers[ent.Name()] {
				errs = append(errs, os.RemoveAll(filepath.Join(s.root, "l", ent.Name())))
			}
		}
	}
	s.mu.Lock()
	for d := range s.index.Layers {
		if h, err := v1.NewHash(d); err == nil && !keepLayers[h.Hex[:16]] {
			delete(s.index.Layers, d)
		}
	}
	errs = append(errs, s.saveLocked())
	s.mu.Unlock()
	return errors.Join(errs...)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
