package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// copyRequest is one COPY or ADD with its words already expanded.
type copyRequest struct {
	srcs []string // relative to root
	dest string   // absolute path in the image, slash-separated
	// root is the build context, or the rootfs of the --from stage/image.
	root string
	// ignore applies to the build context only.
	ignore *ignore
	// lower is the rootfs of the image being built on, used to tell
	// whether dest is an existing directory; "" if unknown.
	lower    string
	uid, gid int
	chmod    *os.FileMode
	add      bool // extract local tar archives
	now      time.Time
}

// copyLayer writes the layer tar of req to w and returns a digest of what
// was copied (paths, modes, owners, contents, link targets; not times), the
// cache key's share of a COPY.
func copyLayer(req copyRequest, w io.Writer) (string, error) {
	type match struct {
		abs string
		rel string
	}
	var matches []match
	for _, src := range req.srcs {
		if strings.Contains(src, "://") {
			return "", fmt.Errorf("ADD from a URL is not supported (berth builds never reach the network): %s", src)
		}
		clean := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(src)), "/")
		if hasGlob(clean) {
			// The pattern is matched on the host; each match is then
			// resolved inside the root, so a symlinked directory in the
			// pattern can't reach outside it.
			found, err := filepath.Glob(filepath.Join(req.root, filepath.FromSlash(clean)))
			if err != nil {
				return "", fmt.Errorf("bad pattern %q: %w", src, err)
			}
			n := 0
			for _, f := range found {
				rel, _ := filepath.Rel(req.root, f) // f is under req.root: Glob was given that prefix
				rel = filepath.ToSlash(rel)
				abs, err := ResolveInRoot(req.root, rel, true)
				if err != nil {
					return "", err
				}
				if _, err := os.Lstat(abs); err != nil || req.ignore.excluded(rel) {
					continue
				}
				matches = append(matches, match{abs, rel})
				n++
			}
			if n == 0 {
				return "", fmt.Errorf("no source files were specified")
			}
			continue
		}
		if clean == "" {
			clean = "."
		}
		abs, err := ResolveInRoot(req.root, clean, true)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil || (clean != "." && req.ignore.excluded(clean)) {
			return "", fmt.Errorf("file not found in build context or excluded by .dockerignore: stat %s: file does not exist", src)
		}
		matches = append(matches, match{abs, clean})
	}

	destDir := strings.HasSuffix(req.dest, "/") || strings.HasSuffix(req.dest, "/.") || len(matches) > 1
	dest := path.Clean(req.dest)
	if !destDir && req.lower != "" {
		if fi, err := statInRoot(req.lower, dest); err == nil && fi.IsDir() {
			destDir = true
		}
	}
	if len(matches) == 1 {
		if fi, err := os.Stat(matches[0].abs); err == nil && fi.IsDir() {
			destDir = true // a directory's contents go into dest
		}
	}

	lw := &layerWriter{tw: tar.NewWriter(w), sum: sha256.New(), req: req, dirs: map[string]bool{}}
	parent := dest
	if !destDir {
		parent = path.Dir(dest)
	}
	if err := lw.parents(parent); err != nil {
		return "", err
	}
	for _, m := range matches {
		fi, err := os.Stat(m.abs)
		if err != nil {
			return "", err
		}
		switch {
		case fi.IsDir():
			err = lw.tree(m.abs, m.rel, dest)
		case req.add && isArchive(m.abs):
			err = lw.archive(m.abs, dest)
		case destDir:
			err = lw.file(m.abs, path.Join(dest, filepath.Base(m.abs)), fi)
		default:
			err = lw.file(m.abs, dest, fi)
		}
		if err != nil {
			return "", err
		}
	}
	if err := lw.tw.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(lw.sum.Sum(nil)), nil
}

func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

type layerWriter struct {
	tw   *tar.Writer
	sum  hash.Hash
	req  copyRequest
	dirs map[string]bool
}

// parents emits dir and the directories leading to it that the lower image
// lacks, owned by the --chown user as docker does for directories it creates.
func (lw *layerWriter) parents(dir string) error {
	if dir == "/" || dir == "." {
		return nil
	}
	if err := lw.parents(path.Dir(dir)); err != nil {
		return err
	}
	if lw.req.lower != "" {
		if fi, err := statInRoot(lw.req.lower, dir); err == nil && fi.IsDir() {
			return nil
		}
	}
	return lw.header(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: lw.req.now}, nil)
}

func (lw *layerWriter) header(h *tar.Header, body io.Reader) error {
	name := strings.TrimPrefix(path.Clean(h.Name), "/")
	if name == "" {
		return nil // the image's root directory is never replaced
	}
	if h.Typeflag == tar.TypeDir {
		if lw.dirs[name] {
			return nil
		}
		lw.dirs[name] = true
		name += "/"
	}
	h.Name = name
	h.Uid, h.Gid = lw.req.uid, lw.req.gid
	h.Uname, h.Gname = "", ""
	if lw.req.chmod != nil {
		h.Mode = int64(*lw.req.chmod)
	}
	h.Format = tar.FormatPAX
	fmt.Fprintf(lw.sum, "%s\x00%c\x00%o\x00%d:%d\x00%s\x00%d\x00", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, h.Size)
	if err := lw.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	if body != nil {
		if _, err := io.Copy(io.MultiWriter(lw.tw, lw.sum), body); err != nil {
			return fmt.Errorf("write layer %s: %w", h.Name, err)
		}
	}
	return nil
}

func (lw *layerWriter) file(abs, dest string, fi fs.FileInfo) error {
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	return lw.header(&tar.Header{Typeflag: tar.TypeReg, Name: dest, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}, f)
}

// tree copies the contents of directory abs (rel in the context) into dest.
func (lw *layerWriter) tree(abs, rel, dest string) error {
	var entries []string
	err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(abs, p)
		if r != "." {
			ctxRel := path.Join(rel, filepath.ToSlash(r))
			if lw.req.ignore.excluded(ctxRel) {
				if d.IsDir() && !lw.hasException() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		entries = append(entries, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", rel, err)
	}
	sort.Strings(entries)
	for _, r := range entries {
		p := filepath.Join(abs, r)
		target := path.Join(dest, filepath.ToSlash(r))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			err = lw.header(&tar.Header{Typeflag: tar.TypeDir, Name: target, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}, nil)
		case fi.Mode()&fs.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(p); err == nil {
				err = lw.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: target, Linkname: link, Mode: 0o777, ModTime: fi.ModTime()}, nil)
			}
		case fi.Mode().IsRegular():
			err = lw.file(p, target, fi)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (lw *layerWriter) hasException() bool {
	if lw.req.ignore == nil {
		return false
	}
	for _, r := range lw.req.ignore.rules {
		if r.negate {
			return true
		}
	}
	return false
}

// isArchive reports whether ADD should unpack the file: a tar, plain or gzip.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := archiveReader(f)
	if err != nil {
		return false
	}
	_, err = tar.NewReader(r).Next()
	return err == nil
}

func archiveReader(f io.Reader) (io.Reader, error) {
	br := bufio.NewReader(f)
	head, _ := br.Peek(2)
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(br)
	}
	return br, nil
}

// archive re-emits the entries of a local tar under dest (ADD's unpacking).
func (lw *layerWriter) archive(abs, dest string) error {
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := archiveReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", filepath.Base(abs), err)
		}
		name := path.Join(dest, path.Clean("/"+h.Name))
		if err := lw.parents(path.Dir(name)); err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: h.Typeflag, Name: name, Mode: h.Mode, Size: h.Size, Linkname: h.Linkname, ModTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
			var body io.Reader
			if h.Typeflag == tar.TypeReg {
				body = tr
			}
			if err := lw.header(hdr, body); err != nil {
				return err
			}
		}
	}
}
