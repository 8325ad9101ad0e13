package engine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCaps is docker's default capability set (moby oci/caps/defaults.go).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCaps are the capabilities runc 1.1 knows.
var allCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// docker's masked and read-only /proc and /sys paths (moby oci/defaults.go).
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// capabilities applies add/drop (docker semantics, "ALL" allowed) to a base set.
func capabilities(base, add, drop []string) ([]string, error) {
	norm := func(c string) string {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		return c
	}
	set := map[string]bool{}
	for _, c := range base {
		set[c] = true
	}
	known := map[string]bool{}
	for _, c := range allCaps {
		known[c] = true
	}
	for _, c := range drop {
		c = norm(c)
		if c == "ALL" {
			set = map[string]bool{}
			continue
		}
		if !known[c] {
			return nil, fmt.Errorf("%w: unknown capability to drop: %q", ErrInvalid, c)
		}
		delete(set, c)
	}
	for _, c := range add {
		c = norm(c)
		if c == "ALL" {
			for _, k := range allCaps {
				set[k] = true
			}
			continue
		}
		if !known[c] {
			return nil, fmt.Errorf("%w: unknown capability to add: %q", ErrInvalid, c)
		}
		set[c] = true
	}
	out := make([]string, 0, len(set))
	for _, c := range allCaps {
		if set[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// specInput is everything generateSpec needs; it is pure so tests can
// check the result without root.
type specInput struct {
	ID          string
	Spec        *ContainerSpec
	Args        []string
	Env         []string
	WorkingDir  string
	UID, GID    uint32
	Groups      []uint32
	Rootfs      string
	CgroupsPath string
	// Etc files to bind-mount (host paths).
	HostsPath, ResolvConfPath, HostnamePath string
}

// generateSpec builds the OCI runtime config, with docker's defaults.
func generateSpec(in specInput) (*specs.Spec, error) {
	cs := in.Spec
	if cs.OOMScoreAdj < 0 {
		return nil, fmt.Errorf("%w: negative oom_score_adj %d is refused on this host", ErrInvalid, cs.OOMScoreAdj)
	}
	caps := defaultCaps
	if cs.Privileged {
		caps = allCaps
	}
	caps, err := capabilities(caps, cs.CapAdd, cs.CapDrop)
	if err != nil {
		return nil, err
	}
	env := append([]string(nil), in.Env...)
	if !hasEnv(env, "PATH") {
		env = append([]string{defaultPath}, env...)
	}
	if !hasEnv(env, "HOSTNAME") && cs.Hostname != "" {
		env = append(env, "HOSTNAME="+cs.Hostname)
	}
	if cs.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	cwd := in.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	proc := &specs.Process{
		Terminal: cs.Tty,
		User:     specs.User{UID: in.UID, GID: in.GID, AdditionalGids: in.Groups},
		Args:     in.Args,
		Env:      env,
		Cwd:      cwd,
		Capabilities: &specs.LinuxCapabilities{
			Bounding: caps, Effective: caps, Permitted: caps,
		},
		NoNewPrivileges: cs.NoNewPrivileges,
	}
	if cs.OOMScoreAdj > 0 {
		v := cs.OOMScoreAdj
		proc.OOMScoreAdj = &v
	}
	shm := cs.ShmSize
	if shm <= 0 {
		shm = 64 << 20
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgOpts := []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
	if cs.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev"}
		cgOpts = []string{"nosuid", "noexec", "nodev", "relatime"}
	}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgOpts},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)}},
	}
	userDest := map[string]bool{}
	for _, m := range cs.Mounts {
		userDest[filepath.Clean(m.Destination)] = true
	}
	for _, f := range []struct{ dest, src string }{
		{"/etc/hosts", in.HostsPath}, {"/etc/resolv.conf", in.ResolvConfPath}, {"/etc/hostname", in.HostnamePath},
	} {
		if f.src != "" && !userDest[f.dest] {
			mounts = append(mounts, specs.Mount{Destination: f.dest, Type: "bind", Source: f.src, Options: []string{"rbind", "rprivate"}})
		}
	}
	for _, m := range cs.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return nil, fmt.Errorf("%w: mount destination %q is not absolute", ErrInvalid, m.Destination)
		}
		switch m.Type {
		case "bind", "":
			if !filepath.IsAbs(m.Source) {
				return nil, fmt.Errorf("%w: bind mount source %q is not absolute", ErrInvalid, m.Source)
			}
			opts := []string{"rbind"}
			if !hasPropagation(m.Options) {
				opts = append(opts, "rprivate")
			}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: append(opts, m.Options...)})
		case "tmpfs":
			opts := []string{"nosuid", "nodev"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: append(opts, m.Options...)})
		default:
			return nil, fmt.Errorf("%w: mount type %q (want bind or tmpfs)", ErrInvalid, m.Type)
		}
	}
	var ns []specs.LinuxNamespace
	ns = append(ns, specs.LinuxNamespace{Type: specs.MountNamespace})
	for _, n := range []struct {
		t    specs.LinuxNamespaceType
		mode string
	}{{specs.PIDNamespace, cs.PIDNS}, {specs.IPCNamespace, cs.IPCNS}, {specs.UTSNamespace, cs.UTSNS}, {specs.NetworkNamespace, cs.NetNS}} {
		switch n.mode {
		case NamespaceHost:
		case NamespacePrivate, NetworkNone:
			ns = append(ns, specs.LinuxNamespace{Type: n.t})
		default:
			if !filepath.IsAbs(n.mode) {
				return nil, fmt.Errorf("%w: %s namespace %q: want \"\", \"host\" or an absolute path", ErrInvalid, n.t, n.mode)
			}
			ns = append(ns, specs.LinuxNamespace{Type: n.t, Path: n.mode})
		}
	}
	hostname := ""
	if cs.UTSNS == NamespacePrivate {
		hostname = cs.Hostname
	}
	res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: cs.Privileged, Access: "rwm"}}}
	r := cs.Resources
	if r.Memory > 0 {
		mem := r.Memory
		swap := r.MemorySwap
		if swap == 0 {
			swap = mem
		}
		res.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &swap}
	}
	if r.CPUShares > 0 || r.CPUQuota > 0 || r.NanoCPUs > 0 || r.CpusetCpus != "" {
		cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus}
		if r.CPUShares > 0 {
			v := r.CPUShares
			cpu.Shares = &v
		}
		period := r.CPUPeriod
		if period == 0 {
			period = 100000
		}
		quota := r.CPUQuota
		if r.NanoCPUs > 0 {
			quota = r.NanoCPUs * int64(period) / 1e9
		}
		if quota > 0 {
			if quota < 1000 {
				quota = 1000 // the kernel's minimum cfs quota
			}
			cpu.Quota, cpu.Period = &quota, &period
		}
		res.CPU = cpu
	}
	if r.PidsLimit > 0 {
		v := r.PidsLimit
		res.Pids = &specs.LinuxPids{Limit: &v}
	}
	linux := &specs.Linux{
		Namespaces:  ns,
		CgroupsPath: in.CgroupsPath,
		Resources:   res,
		Sysctl:      cs.Sysctls,
	}
	if !cs.Privileged {
		linux.MaskedPaths, linux.ReadonlyPaths = maskedPaths, readonlyPaths
	}
	return &specs.Spec{
		Version:  specs.Version,
		Process:  proc,
		Root:     &specs.Root{Path: in.Rootfs, Readonly: cs.ReadonlyRootfs},
		Hostname: hostname,
		Mounts:   mounts,
		Linux:    linux,
	}, nil
}

func hasPropagation(opts []string) bool {
	for _, o := range opts {
		switch o {
		case "private", "rprivate", "shared", "rshared", "slave", "rslave":
			return true
		}
	}
	return false
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// mergeEnv overlays KEY=VALUE entries on base, keeping base's order.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
		} else {
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// resolveUser turns docker's --user into IDs, reading the container's
// /etc/passwd and /etc/group (which may be missing for numeric users).
func resolveUser(rootfs, user string) (uid, gid uint32, groups []uint32, err error) {
	if user == "" {
		user = "0"
	}
	u, g, hasGroup := strings.Cut(user, ":")
	passwd := readDB(filepath.Join(rootfs, "etc/passwd"))
	group := readDB(filepath.Join(rootfs, "etc/group"))
	var name string
	if n, perr := strconv.ParseUint(u, 10, 32); perr == nil {
		uid = uint32(n)
		for _, f := range passwd {
			if len(f) > 3 && f[2] == u {
				name = f[0]
				if v, err := strconv.ParseUint(f[3], 10, 32); err == nil {
					gid = uint32(v)
				}
				break
			}
		}
	} else {
		found := false
		for _, f := range passwd {
			if len(f) > 3 && f[0] == u {
				name, found = u, true
				a, err1 := strconv.ParseUint(f[2], 10, 32)
				b, err2 := strconv.ParseUint(f[3], 10, 32)
				if err1 != nil || err2 != nil {
					return 0, 0, nil, fmt.Errorf("%w: bad /etc/passwd entry for %q", ErrInvalid, u)
				}
				uid, gid = uint32(a), uint32(b)
				break
			}
		}
		if !found {
			return 0, 0, nil, fmt.Errorf("%w: unable to find user %s: no matching entries in passwd file", ErrInvalid, u)
		}
	}
	if hasGroup {
		if n, perr := strconv.ParseUint(g, 10, 32); perr == nil {
			gid = uint32(n)
		} else {
			found := false
			for _, f := range group {
				if len(f) > 2 && f[0] == g {
					v, err := strconv.ParseUint(f[2], 10, 32)
					if err != nil {
						return 0, 0, nil, fmt.Errorf("%w: bad /etc/group entry for %q", ErrInvalid, g)
					}
					gid, found = uint32(v), true
					break
				}
			}
			if !found {
				return 0, 0, nil, fmt.Errorf("%w: unable to find group %s: no matching entries in group file", ErrInvalid, g)
			}
		}
	}
	if name != "" {
		for _, f := range group {
			if len(f) < 4 {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == name {
					if v, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(v) != gid {
						groups = append(groups, uint32(v))
					}
				}
			}
		}
	}
	return uid, gid, groups, nil
}

// readDB reads a colon-separated file like /etc/passwd. It refuses
// symlinks, which could point at the host's files.
func readDB(path string) [][]string {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseDB(f)
}

func parseDB(r io.Reader) [][]string {
	var out [][]string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}
