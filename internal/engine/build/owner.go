package build

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// resolveOwner turns --chown's "user[:group]" into ids. Names are looked up
// in the image's /etc/passwd and /etc/group (under lower); a user without a
// group gets the user's primary group for a name, the uid for a number,
// like the legacy builder.
func resolveOwner(lower, spec string) (int, int, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, primary, err := lookupID(lower, "passwd", user)
	if err != nil {
		return 0, 0, err
	}
	gid := primary
	if hasGroup {
		if gid, _, err = lookupID(lower, "group", group); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookupID resolves a numeric id or a name in /etc/<db>; for passwd it also
// returns the primary gid (the uid itself for a numeric user).
func lookupID(lower, db, name string) (int, int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, n, nil
	}
	if lower == "" {
		return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: no such %s %q in an empty image", db, name)
	}
	p, err := ResolveInRoot(lower, "/etc/"+db, true)
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			break
		}
		primary := id
		if db == "passwd" && len(fields) > 3 {
			if g, err := strconv.Atoi(fields[3]); err == nil {
				primary = g
			}
		}
		return id, primary, nil
	}
	return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: no such %s %q", strings.TrimSuffix(db, "wd"), name)
}

// missingDirs lists dir and its parents that lower (an image's rootfs; ""
// for an empty one) lacks, outermost first.
func missingDirs(lower, dir string) []string {
	var parts []string
	for d := path.Clean(dir); d != "/" && d != "."; d = path.Dir(d) {
		if lower != "" {
			if fi, err := statInRoot(lower, d); err == nil && fi.IsDir() {
				break
			}
		}
		parts = append([]string{strings.TrimPrefix(d, "/") + "/"}, parts...)
	}
	return parts
}

// newDirLayer writes a layer tar that holds the directories dirs.
func newDirLayer(w io.Writer, dirs []string) error {
	tw := tar.NewWriter(w)
	now := time.Now()
	for _, p := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p, Mode: 0o755, ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	return tw.Close()
}
