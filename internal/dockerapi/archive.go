package dockerapi

import (
	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/engine/build"
)

// The archive endpoints back `docker cp`. They work on the container's
// rootfs as the host sees it (the overlay mount), so paths are resolved
// with every symlink kept inside it. Files under a volume or bind mount of
// the container are not visible there; docker cp of those is not served.

type pathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       fs.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// archivePath finds ?path= of the container's rootfs.
func (s *Server) archivePath(r *http.Request, followLast bool) (string, string, fs.FileInfo, error) {
	id, p := r.PathValue("id"), r.URL.Query().Get("path")
	if p == "" {
		return "", "", nil, badRequest("path is required")
	}
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return "", "", nil, noSuchContainer(id, err)
	}
	if c.Rootfs == "" {
		return "", "", nil, conflict("container %s has no filesystem mounted", id)
	}
	if !path.IsAbs(p) {
		wd := c.WorkingDir
		if wd == "" {
			wd = "/"
		}
		p = path.Join(wd, p)
	}
	host, err := build.ResolveInRoot(c.Rootfs, p, followLast)
	if err != nil {
		return "", "", nil, badRequest("%v", err)
	}
	fi, err := os.Lstat(host)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil, notFound("Could not find the file %s in container %s", r.URL.Query().Get("path"), id)
	}
	if err != nil {
		return "", "", nil, err
	}
	return c.Rootfs, host, fi, nil
}

func setPathStat(w http.ResponseWriter, root, host string, fi fs.FileInfo) error {
	st := pathStat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(host)
		if err != nil {
			return err
		}
		st.LinkTarget = t
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

// archiveHead is HEAD /containers/{id}/archive: stat of a path.
func (s *Server) archiveHead(w http.ResponseWriter, r *http.Request) error {
	root, host, fi, err := s.archivePath(r, false)
	if err != nil {
		return err
	}
	if err := setPathStat(w, root, host, fi); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// archiveGet is GET /containers/{id}/archive: a tar of the path, its
// entries named from the path's base name, as docker cp expects.
func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request) error {
	root, host, fi, err := s.archivePath(r, false)
	if err != nil {
		return err
	}
	if err := setPathStat(w, root, host, fi); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(w)
	base := filepath.Dir(host)
	err = filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p) // p is under base by construction
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		// The header is out: cutting the tar short is all that is left.
		s.log.Warn("docker cp from container", "path", host, "err", err)
	}
	return nil
}

// archivePut is PUT /containers/{id}/archive: extract a tar into the
// directory ?path=, every entry resolved inside the rootfs.
func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) error {
	root, host, fi, err := s.archivePath(r, true)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return badRequest("extraction point is not a directory")
	}
	rel, err := filepath.Rel(root, host)
	if err != nil {
		return err
	}
	dest := "/" + filepath.ToSlash(rel)
	tr := tar.NewReader(r.Body)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badRequest("invalid tar: %v", err)
		}
		target, err := build.ResolveInRoot(root, path.Join(dest, hdr.Name), false)
		if err != nil {
			return badRequest("%v", err)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			// A symlink at the target is replaced, never followed: it could
			// point anywhere on the host.
			if fi, err := os.Lstat(target); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				if err := os.Remove(target); err != nil {
					return err
				}
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(target) // replacing is what docker cp does; a missing target is fine
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		default:
			continue
		}
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
