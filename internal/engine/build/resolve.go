package build

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds symlink resolution like the kernel's MAXSYMLINKS.
const maxSymlinks = 40

// ResolveInRoot resolves p (absolute inside root, a container's or an
// image's filesystem, or a build context) to a host path under root,
// following symlinks as a process chrooted at root would: absolute targets
// start at root and ".." stops there, so the result never leaves root.
// With followLast false a symlink in the last component is not followed.
func ResolveInRoot(root, p string, followLast bool) (string, error) {
	parts := strings.Split(path.Clean("/"+p), "/")[1:]
	cur := "/"
	hops := 0
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 || (len(parts) == 0 && !followLast) {
			cur = next
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", fmt.Errorf("too many levels of symbolic links: %s", p)
		}
		target, err := os.Readlink(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}

// statInRoot stats p inside root, symlinks resolved inside root.
func statInRoot(root, p string) (fs.FileInfo, error) {
	host, err := ResolveInRoot(root, p, true)
	if err != nil {
		return nil, err
	}
	return os.Stat(host)
}
