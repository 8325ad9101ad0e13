package engine

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// OCI/AUFS whiteout names inside layer tars (image-spec layer.md).
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

// unpackLayer extracts an uncompressed layer tar into dir (which must exist
// and be empty), turning whiteouts into what overlayfs reads: a deleted path
// becomes a 0/0 character device, an opaque directory gets
// trusted.overlay.opaque=y. It returns the number of content bytes.
func unpackLayer(r io.Reader, dir string) (int64, error) {
	tr := tar.NewReader(r)
	var size int64
	type dirTime struct {
		path  string
		mtime time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return size, fmt.Errorf("read layer tar: %w", err)
		}
		rel, err := cleanTarPath(hdr.Name)
		if err != nil {
			return size, err
		}
		if rel == "." {
			continue
		}
		parentRel, base := filepath.Split(rel)
		parent, err := safeDir(dir, parentRel)
		if err != nil {
			return size, err
		}
		if base == whiteoutOpaque {
			if err := unix.Lsetxattr(parent, opaqueXattr, []byte("y"), 0); err != nil {
				return size, fmt.Errorf("mark %s opaque: %w", parentRel, err)
			}
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			p := filepath.Join(parent, strings.TrimPrefix(base, whiteoutPrefix))
			if err := os.RemoveAll(p); err != nil {
				return size, err
			}
			if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
				return size, fmt.Errorf("whiteout %s: %w", p, err)
			}
			continue
		}
		p := filepath.Join(parent, base)
		if fi, err := os.Lstat(p); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(p); err != nil {
				return size, err
			}
		}
		mode := uint32(hdr.Mode & 07777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return size, err
			}
			dirs = append(dirs, dirTime{p, hdr.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return size, err
			}
			n, err := io.Copy(f, tr)
			size += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return size, fmt.Errorf("write %s: %w", rel, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return size, err
			}
		case tar.TypeLink:
			targetRel, err := cleanTarPath(hdr.Linkname)
			if err != nil {
				return size, err
			}
			tparent, err := safeDir(dir, filepath.Dir(targetRel))
			if err != nil {
				return size, err
			}
			if err := os.Link(filepath.Join(tparent, filepath.Base(targetRel)), p); err != nil {
				return size, fmt.Errorf("hardlink %s: %w", rel, err)
			}
			continue // the link shares the target's metadata
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			m := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
			if err := unix.Mknod(p, m|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
				return size, fmt.Errorf("mknod %s: %w", rel, err)
			}
		default:
			continue // pax/gnu extension headers are consumed by archive/tar; anything else is ignored like docker does
		}
		if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
			return size, fmt.Errorf("chown %s: %w", rel, err)
		}
		for k, v := range hdr.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				// Best effort like docker: security.* labels may be refused here.
				_ = unix.Lsetxattr(p, x, []byte(v), 0)
			}
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := os.Chmod(p, os.FileMode(mode)|specialBits(mode)); err != nil {
				return size, err
			}
		}
		if hdr.Typeflag != tar.TypeDir {
			ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
			if hdr.AccessTime.IsZero() {
				ts[0] = ts[1]
			}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW) // times are cosmetic
		}
	}
	// Directory times last: creating entries inside changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		t := unix.NsecToTimespec(dirs[i].mtime.UnixNano())
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].path, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW)
	}
	return size, nil
}

// specialBits maps setuid/setgid/sticky from tar mode bits to os.FileMode.
func specialBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&04000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&02000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&01000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// cleanTarPath makes a tar entry name relative and refuses names that
// climb out of the layer.
func cleanTarPath(name string) (string, error) {
	p := filepath.Clean("/" + name)
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		return ".", nil
	}
	return rel, nil
}

// safeDir returns root/rel, creating missing directories, and refuses to
// walk through a symlink: a layer must not write outside its own tree.
func safeDir(root, rel string) (string, error) {
	p := root
	for _, part := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
		if part == "" || part == "." {
			continue
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(p, 0o755); err != nil {
				return "", err
			}
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", fmt.Errorf("layer path %s goes through a symlink", rel)
		case !fi.IsDir():
			return "", fmt.Errorf("layer path %s: %s is not a directory", rel, part)
		}
	}
	return p, nil
}

// writeDiff writes the changes in an overlay upper dir as a layer tar,
// turning overlay whiteouts back into OCI ones.
func writeDiff(upper string, w io.Writer) error {
	tw := tar.NewWriter(w)
	links := map[uint64]string{}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
			dir, base := filepath.Split(rel)
			return tw.WriteHeader(&tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: fi.ModTime()})
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, ok := links[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[st.Ino] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.IsDir() {
			if v, err := lgetxattr(p, opaqueXattr); err == nil && v == "y" {
				return tw.WriteHeader(&tar.Header{Name: rel + "/" + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: fi.ModTime()})
			}
			return nil
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("diff %s: %w", upper, err)
	}
	return tw.Close()
}

func lgetxattr(p, attr string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, attr, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// sortedKeys is used where map order would make output unstable.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
