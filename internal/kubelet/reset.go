package kubelet

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
)

// ResetPods undoes what pod workers left for a data dir (berth reset):
// the pinned IPC/UTS namespaces, tmpfs volumes and directories of every
// pod, and the pod cgroups under cgroupRoot in every v1 hierarchy. Run it
// after the engine's reset, when no container process is left in them.
func ResetPods(dataDir, cgroupRoot string) error {
	var errs []error
	pods := filepath.Join(StateDir(dataDir), "pods")
	entries, _ := os.ReadDir(pods) // none when no pod ever ran
	for _, e := range entries {
		dir := filepath.Join(pods, e.Name())
		for _, ns := range []string{"ipc", "uts"} {
			if err := unpin(filepath.Join(dir, ns)); err != nil {
				errs = append(errs, err)
			}
		}
		if err := teardownVolumes(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupRoot) // no match when no pod ran
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil // a cgroup vanishing mid-walk is fine
		})
		// Children before parents.
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
