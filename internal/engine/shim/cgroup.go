package shim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// cgroupfs is where the cgroup hierarchies are mounted (v1 controllers,
// and cgroup2 at "unified" on hybrid hosts).
const cgroupfs = "/sys/fs/cgroup"

// RemoveCgroup removes the cgroup dir path in every hierarchy. It fails
// (and leaves the rest) if a dir is still busy with processes.
func RemoveCgroup(path string) error {
	if strings.Trim(path, "/") == "" {
		return nil
	}
	ents, err := os.ReadDir(cgroupfs)
	if err != nil {
		return err
	}
	var errs []error
	for _, ent := range ents {
		err := os.Remove(join(cgroupfs, ent.Name(), path))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CgroupDir is the dir of path in one v1 hierarchy ("memory", "pids").
func CgroupDir(hierarchy, path string) string { return join(cgroupfs, hierarchy, path) }
