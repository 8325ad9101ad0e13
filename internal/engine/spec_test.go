package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestEffectiveArgs(t *testing.T) {
	img := imageDefaults{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	tests := []struct {
		name string
		img  imageDefaults
		spec ContainerSpec
		want []string
	}{
		{"image defaults", img, ContainerSpec{}, []string{"/entry", "default"}},
		{"cmd replaces image cmd", img, ContainerSpec{Cmd: []string{"x"}}, []string{"/entry", "x"}},
		{"entrypoint drops image cmd", img, ContainerSpec{Entrypoint: []string{"/other"}}, []string{"/other"}},
		{"empty entrypoint resets it", img, ContainerSpec{Entrypoint: []string{}, Cmd: []string{"sh"}}, []string{"sh"}},
		{"no entrypoint in image", imageDefaults{Cmd: []string{"sh"}}, ContainerSpec{}, []string{"sh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := effectiveArgs(tc.img, tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("effectiveArgs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	want := []string{"PATH=/bin", "A=2", "B=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestCapabilities(t *testing.T) {
	got, err := capabilities(defaultCaps, []string{"net_admin"}, []string{"CAP_KILL", "MKNOD"})
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, c := range got {
		has[c] = true
	}
	if !has["CAP_NET_ADMIN"] || has["CAP_KILL"] || has["CAP_MKNOD"] || !has["CAP_CHOWN"] {
		t.Errorf("capabilities = %v", got)
	}
	if got, _ := capabilities(defaultCaps, []string{"NET_BIND_SERVICE"}, []string{"ALL"}); !reflect.DeepEqual(got, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("drop ALL add one = %v", got)
	}
	if _, err := capabilities(nil, []string{"NOT_A_CAP"}, nil); err == nil {
		t.Error("unknown capability accepted")
	}
}

func mountByDest(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestGenerateSpec(t *testing.T) {
	adj := 0
	base := func() specInput {
		return specInput{
			ID: "abc", Args: []string{"sh"}, Env: []string{"A=1"}, UID: 1000, GID: 1000, Groups: []uint32{5},
			Rootfs: "/data/rootfs", CgroupsPath: "/berth-1/abc", HostsPath: "/data/hosts",
			Spec: &ContainerSpec{Hostname: "h1", OOMScoreAdj: adj},
		}
	}
	t.Run("docker defaults", func(t *testing.T) {
		s, err := generateSpec(base())
		if err != nil {
			t.Fatal(err)
		}
		if s.Process.User.UID != 1000 || s.Process.Cwd != "/" || s.Hostname != "h1" || s.Root.Path != "/data/rootfs" {
			t.Errorf("process/root = %+v %+v hostname %q", s.Process.User, s.Root, s.Hostname)
		}
		if s.Process.Env[0] != defaultPath || !hasEnv(s.Process.Env, "HOSTNAME") {
			t.Errorf("env = %q, want default PATH first and HOSTNAME", s.Process.Env)
		}
		if !reflect.DeepEqual(s.Process.Capabilities.Bounding, capsOrdered(defaultCaps)) {
			t.Errorf("caps = %v, want docker's defaults", s.Process.Capabilities.Bounding)
		}
		if s.Process.OOMScoreAdj != nil {
			t.Errorf("oomScoreAdj = %d, want unset", *s.Process.OOMScoreAdj)
		}
		for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hosts"} {
			if mountByDest(s, d) == nil {
				t.Errorf("no %s mount", d)
			}
		}
		if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
			t.Error("masked/readonly paths missing")
		}
		if s.Linux.CgroupsPath != "/berth-1/abc" {
			t.Errorf("cgroupsPath = %q", s.Linux.CgroupsPath)
		}
		var types []string
		for _, n := range s.Linux.Namespaces {
			if n.Path != "" {
				t.Errorf("namespace %s joins %s, want private", n.Type, n.Path)
			}
			types = append(types, string(n.Type))
		}
		if strings.Join(types, ",") != "mount,pid,ipc,uts,network" {
			t.Errorf("namespaces = %v", types)
		}
	})
	t.Run("pod container joins namespaces, limits, mounts", func(t *testing.T) {
		in := base()
		in.Spec = &ContainerSpec{
			NetNS: "/run/netns/pod", IPCNS: "/proc/1/ns/ipc", UTSNS: "/proc/1/ns/uts", Hostname: "ignored",
			Resources: Resources{Memory: 32 << 20, NanoCPUs: 5e8, CPUShares: 512, PidsLimit: 64},
			Mounts: []Mount{
				{Type: "bind", Source: "/vol/a", Destination: "/data", ReadOnly: true},
				{Type: "tmpfs", Destination: "/cache", Options: []string{"size=1m"}},
			},
			CapDrop: []string{"ALL"}, ReadonlyRootfs: true, OOMScoreAdj: 1000,
		}
		s, err := generateSpec(in)
		if err != nil {
			t.Fatal(err)
		}
		if s.Hostname != "" {
			t.Errorf("hostname = %q, want none when joining a UTS namespace", s.Hostname)
		}
		joined := map[specs.LinuxNamespaceType]string{}
		for _, n := range s.Linux.Namespaces {
			joined[n.Type] = n.Path
		}
		if joined[specs.NetworkNamespace] != "/run/netns/pod" || joined[specs.IPCNamespace] != "/proc/1/ns/ipc" {
			t.Errorf("namespaces = %+v", s.Linux.Namespaces)
		}
		r := s.Linux.Resources
		if *r.Memory.Limit != 32<<20 || *r.Memory.Swap != 32<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || *r.Pids.Limit != 64 {
			t.Errorf("resources = mem %d/%d cpu %d/%d shares %d pids %d", *r.Memory.Limit, *r.Memory.Swap, *r.CPU.Quota, *r.CPU.Period, *r.CPU.Shares, *r.Pids.Limit)
		}
		if m := mountByDest(s, "/data"); m == nil || m.Source != "/vol/a" || !contains(m.Options, "ro") || !contains(m.Options, "rbind") {
			t.Errorf("/data mount = %+v", m)
		}
		if m := mountByDest(s, "/cache"); m == nil || m.Type != "tmpfs" || !contains(m.Options, "size=1m") {
			t.Errorf("/cache mount = %+v", m)
		}
		if len(s.Process.Capabilities.Bounding) != 0 || !s.Root.Readonly || *s.Process.OOMScoreAdj != 1000 {
			t.Errorf("caps %v readonly %v oom %d", s.Process.Capabilities.Bounding, s.Root.Readonly, *s.Process.OOMScoreAdj)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for name, cs := range map[string]ContainerSpec{
			"negative oom_score_adj": {OOMScoreAdj: -998},
			"relative bind source":   {Mounts: []Mount{{Type: "bind", Source: "rel", Destination: "/x"}}},
			"relative destination":   {Mounts: []Mount{{Type: "tmpfs", Destination: "x"}}},
			"unknown mount type":     {Mounts: []Mount{{Type: "nfs", Source: "/a", Destination: "/x"}}},
			"relative netns":         {NetNS: "netns/x"},
		} {
			in := base()
			in.Spec = &cs
			if _, err := generateSpec(in); err == nil {
				t.Errorf("%s: generateSpec accepted it", name)
			}
		}
	})
}

func capsOrdered(c []string) []string {
	out, _ := capabilities(c, nil, nil)
	return out
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nnode:x:1000:1001::/home/node:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nnode:x:1001:\nstaff:x:50:node,other\n"), 0o644)
	tests := []struct {
		user     string
		uid, gid uint32
		groups   []uint32
		wantErr  bool
	}{
		{user: "", uid: 0, gid: 0},
		{user: "node", uid: 1000, gid: 1001, groups: []uint32{50}},
		{user: "1000", uid: 1000, gid: 1001, groups: []uint32{50}},
		{user: "4242:4343", uid: 4242, gid: 4343},
		{user: "node:staff", uid: 1000, gid: 50},
		{user: "nobody", wantErr: true},
		{user: "node:nogroup", wantErr: true},
	}
	for _, tc := range tests {
		uid, gid, groups, err := resolveUser(root, tc.user)
		if tc.wantErr {
			if err == nil {
				t.Errorf("resolveUser(%q) succeeded, want an error", tc.user)
			}
			continue
		}
		if err != nil || uid != tc.uid || gid != tc.gid || !reflect.DeepEqual(groups, tc.groups) {
			t.Errorf("resolveUser(%q) = %d, %d, %v, %v; want %d, %d, %v", tc.user, uid, gid, groups, err, tc.uid, tc.gid, tc.groups)
		}
	}
}
