package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// maxDockerfileBytes bounds the Dockerfile read into memory.
const maxDockerfileBytes = 1 << 20

// extractContext unpacks the build context tar (plain, gzip or bzip2, as
// the legacy API accepts) into dir. It rejects entries that would land
// outside dir, and a stream that isn't a tar at all.
func extractContext(r io.Reader, dir string) error {
	br := bufio.NewReader(r)
	head, _ := br.Peek(3) // a short context is handled by the tar reader's error
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		defer gz.Close()
		src = gz
	case bytes.HasPrefix(head, []byte("BZh")):
		src = bzip2.NewReader(br)
	}
	tr := tar.NewReader(src)
	entries := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("build context is not a valid tar archive: %w", err)
		}
		entries++
		rel := path.Clean("/" + hdr.Name)[1:]
		if rel == "" {
			continue
		}
		// Resolved inside dir: an entry below a symlink the archive made
		// earlier ("x -> /etc", then "x/passwd") must not land on the host.
		target, err := ResolveInRoot(dir, rel, false)
		if err != nil {
			return fmt.Errorf("build context: %s: %w", hdr.Name, err)
		}
		if fi, err := os.Lstat(target); err == nil && fi.Mode()&os.ModeSymlink != 0 && hdr.Typeflag != tar.TypeDir {
			if err := os.Remove(target); err != nil {
				return err
			}
		}
		mode := os.FileMode(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, mode|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("build context: %s: %w", hdr.Name, err)
			}
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			old, err := ResolveInRoot(dir, hdr.Linkname, true)
			if err != nil {
				return fmt.Errorf("build context: %s: %w", hdr.Name, err)
			}
			if err := os.Link(old, target); err != nil {
				return err
			}
		default:
			continue // devices and fifos have no place in a build context
		}
		if err := os.Lchown(target, 0, 0); err != nil && !errors.Is(err, os.ErrPermission) {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := os.Chtimes(target, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		}
	}
	if entries == 0 {
		return errors.New("build context is not a valid tar archive: no entries")
	}
	return nil
}

// readDockerfile reads the Dockerfile named name (relative to the context
// root) and the .dockerignore patterns next to it.
func readDockerfile(dir, name string) ([]byte, *ignore, error) {
	if name == "" {
		name = "Dockerfile"
	}
	p, err := ResolveInRoot(dir, name, true)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("Cannot locate specified Dockerfile: %s", name)
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDockerfileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxDockerfileBytes {
		return nil, nil, fmt.Errorf("%s is larger than 1 MiB", name)
	}
	ig, err := loadIgnore(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		return nil, nil, err
	}
	return b, ig, nil
}
