package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// Reset stops every container of the berth using dataDir and undoes what
// the engine made on the host: it SIGKILLs the shims and container inits
// it recorded (checking each PID still is one of ours), unmounts the
// rootfs overlays and removes the containers' cgroups. Images, container
// records and logs stay; the containers show as exited.
func Reset(ctx context.Context, dataDir string) error {
	root, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	// The engine names cgroups after the resolved path (see New).
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	eroot := filepath.Join(root, "engine")
	ents, err := os.ReadDir(filepath.Join(eroot, "containers"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	runc, _ := exec.LookPath("runc")
	var errs []error
	for _, ent := range ents {
		dir := filepath.Join(eroot, "containers", ent.Name())
		var m containerMeta
		if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
			if err := json.Unmarshal(b, &m); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", dir, err))
			}
		}
		st, _ := shim.ReadState(filepath.Join(dir, "state.json"))
		if st != nil {
			if shimAlive(st.ShimPid, dir) {
				syscall.Kill(st.ShimPid, syscall.SIGKILL)
			}
			if st.Pid > 0 && m.CgroupsPath != "" && inCgroup(st.Pid, m.CgroupsPath) {
				syscall.Kill(st.Pid, syscall.SIGKILL)
			}
		}
		if m.CgroupsPath != "" {
			killCgroup(m.CgroupsPath)
		}
		if runc != "" && m.ID != "" {
			exec.CommandContext(ctx, runc, "--root", filepath.Join(eroot, "runc"), "delete", "--force", m.ID).Run()
		}
		if st != nil && (st.Status == shim.StatusRunning || st.Status == shim.StatusRestarting) {
			st.Status, st.Pid, st.ExitCode, st.FinishedAt = shim.StatusExited, 0, 137, time.Now().UTC()
			st.Error = "killed by berth reset"
			if err := shim.WriteState(filepath.Join(dir, "state.json"), st); err != nil {
				errs = append(errs, err)
			}
		}
		if err := unmountRootfs(filepath.Join(dir, "rootfs")); err != nil {
			errs = append(errs, err)
		}
		if err := removeNetns(filepath.Join(dir, "netns")); err != nil {
			errs = append(errs, err)
		}
		if m.CgroupsPath != "" {
			if err := shim.RemoveCgroup(m.CgroupsPath); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// The engine's cgroup parent, if nothing else lives in it now.
	removeCgroupTree(CgroupRoot(root))
	if ents, err := os.ReadDir(filepath.Join(eroot, "run")); err == nil {
		for _, ent := range ents {
			os.Remove(filepath.Join(eroot, "run", ent.Name()))
		}
	}
	return errors.Join(errs...)
}

// inCgroup reports whether pid sits in the memory cgroup path.
func inCgroup(pid int, path string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(parts[1], "memory") {
			return parts[2] == path
		}
	}
	return false
}

// killCgroup SIGKILLs what is left in a container's cgroup (processes the
// container forked; they are ours by construction).
func killCgroup(path string) {
	b, err := os.ReadFile(filepath.Join(shim.CgroupDir("pids", path), "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeCgroupTree removes empty cgroup dirs under path, deepest first.
func removeCgroupTree(path string) {
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return
	}
	for _, ent := range ents {
		base := filepath.Join("/sys/fs/cgroup", ent.Name(), path)
		var dirs []string
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}
