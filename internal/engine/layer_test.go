package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if e.typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Linkname: e.link}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// needPrivileges skips tests that create device nodes, chown to root or
// set trusted.* xattrs (what real layers need) when not root.
func needPrivileges(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("unpacking layers needs root (mknod, chown, trusted.* xattrs)")
	}
}

func TestUnpackLayerWhiteouts(t *testing.T) {
	needPrivileges(t)
	dir := t.TempDir()
	layer := makeTar(t, []tarEntry{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/passwd", typ: tar.TypeReg, body: "root:x:0:0::/root:/bin/sh\n"},
		{name: "etc/.wh.shadow", typ: tar.TypeReg},
		{name: "var/cache/", typ: tar.TypeDir},
		{name: "var/cache/.wh..wh..opq", typ: tar.TypeReg},
		{name: "bin/", typ: tar.TypeDir},
		{name: "bin/sh", typ: tar.TypeSymlink, link: "busybox"},
		{name: "bin/busybox", typ: tar.TypeReg, body: "ELF", mode: 0o755},
		{name: "bin/ls", typ: tar.TypeLink, link: "bin/busybox"},
		{name: "../../escape", typ: tar.TypeReg, body: "x"},
	})
	n, err := unpackLayer(bytes.NewReader(layer), dir)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len("root:x:0:0::/root:/bin/sh\n")+len("ELF")+1) {
		t.Errorf("size = %d", n)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "etc/shadow"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/shadow whiteout = mode %o rdev %d, %v; want a 0/0 char device", st.Mode, st.Rdev, err)
	}
	if v, err := lgetxattr(filepath.Join(dir, "var/cache"), opaqueXattr); err != nil || v != "y" {
		t.Errorf("var/cache opaque xattr = %q, %v; want y", v, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(dir, "bin/busybox"))
	b, _ := os.Stat(filepath.Join(dir, "bin/ls"))
	if !os.SameFile(a, b) || a.Mode().Perm() != 0o755 {
		t.Errorf("bin/ls is not a hard link of bin/busybox (mode %v)", a.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err != nil {
		t.Errorf("../../escape should land inside the layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a tar entry escaped the layer dir")
	}
}

func TestUnpackRefusesSymlinkTraversal(t *testing.T) {
	needPrivileges(t)
	dir := t.TempDir()
	outside := t.TempDir()
	layer := makeTar(t, []tarEntry{
		{name: "evil", typ: tar.TypeSymlink, link: outside},
		{name: "evil/pwned", typ: tar.TypeReg, body: "x"},
	})
	if _, err := unpackLayer(bytes.NewReader(layer), dir); err == nil {
		t.Error("unpack through a symlink succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Error("file written outside the layer")
	}
}

func TestWriteDiffRoundTrip(t *testing.T) {
	needPrivileges(t)
	upper := t.TempDir()
	os.MkdirAll(filepath.Join(upper, "app/cache"), 0o755)
	os.WriteFile(filepath.Join(upper, "app/hello.js"), []byte("console.log(1)"), 0o644)
	unix.Mknod(filepath.Join(upper, "app/removed"), unix.S_IFCHR, 0)
	unix.Lsetxattr(filepath.Join(upper, "app/cache"), opaqueXattr, []byte("y"), 0)
	var buf bytes.Buffer
	if err := writeDiff(upper, &buf); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	want := "app/,app/.wh.removed,app/cache/,app/cache/.wh..wh..opq,app/hello.js"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("diff entries = %s, want %s", got, want)
	}
}

func TestImageStoreImportTagRemove(t *testing.T) {
	needPrivileges(t)
	e := &Engine{root: t.TempDir(), containers: map[string]*container{}, names: map[string]string{}}
	var err error
	if e.images, err = openImageStore(e.root); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rootfs := makeTar(t, []tarEntry{{name: "bin/", typ: tar.TypeDir}, {name: "bin/true", typ: tar.TypeReg, body: "x", mode: 0o755}})
	img, err := e.ImportRootfs(ctx, bytes.NewReader(rootfs), ImportOptions{Ref: "kubetm/base"})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RepoTags) != 1 || img.RepoTags[0] != "kubetm/base:latest" || img.Size != 1 {
		t.Errorf("imported = %+v", img)
	}
	if _, err := e.ImportRootfs(ctx, strings.NewReader("not a tar at all, just text"), ImportOptions{Ref: "bad"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("import of garbage = %v, want ErrInvalid", err)
	}
	if err := e.Tag(ctx, "kubetm/base", "docker.io/kubetm/base:v2"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"kubetm/base:v2", img.ID, img.ID[7:19]} {
		if got, err := e.Image(ctx, ref); err != nil || got.ID != img.ID {
			t.Errorf("Image(%q) = %v, %v", ref, got, err)
		}
	}
	// Save and load back under the same names.
	var saved bytes.Buffer
	if err := e.Save(ctx, &saved, []string{"kubetm/base:v2"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.RemoveImage(ctx, "kubetm/base:v2", false)
	if err != nil || len(res.Untagged) != 1 || len(res.Deleted) != 0 {
		t.Errorf("rmi one of two tags = %+v, %v; want untag only", res, err)
	}
	res, err = e.RemoveImage(ctx, "kubetm/base", false)
	if err != nil || len(res.Deleted) != 1 {
		t.Errorf("rmi last tag = %+v, %v; want deleted", res, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "l")); len(ents) != 0 {
		t.Errorf("layer dirs left after rmi: %d", len(ents))
	}
	loaded, err := e.Load(ctx, &saved)
	if err != nil || len(loaded) != 1 || loaded[0] != "kubetm/base:v2" {
		t.Fatalf("load = %v, %v", loaded, err)
	}
	got, err := e.Image(ctx, "kubetm/base:v2")
	if err != nil || got.ID != img.ID {
		t.Errorf("loaded image = %v, %v; want the same ID %s", got, err, img.ID)
	}
	if _, err := e.Image(ctx, "nothere"); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("Image(nothere) = %v, want ErrImageNotFound", err)
	}
}

// TestUnpackRefusesLyingDiffID: an image whose config names a layer by a
// diff ID its content doesn't hash to is refused, and nothing is stored
// under the claimed ID (where another image's real layer would be looked up).
func TestUnpackRefusesLyingDiffID(t *testing.T) {
	needPrivileges(t)
	s, err := openImageStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := makeTar(t, []tarEntry{{name: "evil", typ: tar.TypeReg, body: "x", mode: 0o644}})
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	claimed := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	cf.RootFS.DiffIDs[0] = claimed
	liar, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.unpack(liar); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("unpack of an image with a false diff ID = %v, want a hash mismatch", err)
	}
	if _, err := os.Stat(s.layerDir(claimed)); !os.IsNotExist(err) {
		t.Errorf("layer dir of the claimed diff ID exists after the refusal (stat: %v)", err)
	}
	if err := s.unpack(img); err != nil {
		t.Errorf("unpack of the honest image = %v", err)
	}
}
