package kubelet

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// containerName is the runtime name of one attempt, upstream's dockershim
// pattern: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>.
func containerName(pod *corev1.Pod, c string, attempt int) string {
	return fmt.Sprintf("k8s_%s_%s_%s_%s_%d", c, pod.Name, pod.Namespace, pod.UID, attempt)
}

// podCgroupParent is the pod's cgroup under root by QoS class, upstream's
// layout: kubepods/pod<uid>, kubepods/burstable/pod<uid>, kubepods/besteffort/pod<uid>.
func podCgroupParent(root string, pod *corev1.Pod) string {
	switch qosClass(&pod.Spec) {
	case corev1.PodQOSGuaranteed:
		return root + "/pod" + string(pod.UID)
	case corev1.PodQOSBurstable:
		return root + "/burstable/pod" + string(pod.UID)
	}
	return root + "/besteffort/pod" + string(pod.UID)
}

// containerSpecInput is what buildContainerConfig needs besides the spec.
type containerSpecInput struct {
	attempt  int
	env      []string
	volumes  map[string]string // volume name -> host path
	sb       *sandbox
	podDir   string
	cgroups  string // kubelet cgroup root
	hostNet  bool
	imageRef string
}

// buildContainerConfig maps a pod container to a runtime container.
func buildContainerConfig(pod *corev1.Pod, c *corev1.Container, in containerSpecInput) (ContainerConfig, error) {
	vars := map[string]string{}
	for _, kv := range in.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	expandAll := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expand(s, lookup)
		}
		return out
	}
	cfg := ContainerConfig{
		Name:       containerName(pod, c.Name, in.attempt),
		Hostname:   podHostname(pod),
		Image:      in.imageRef,
		Entrypoint: expandAll(c.Command),
		Cmd:        expandAll(c.Args),
		Env:        in.env,
		WorkingDir: c.WorkingDir,
		Tty:        c.TTY,
		Stdin:      c.Stdin,
		StdinOnce:  c.StdinOnce,
		Labels: map[string]string{
			LabelManaged:       "true",
			LabelPodUID:        string(pod.UID),
			LabelPodName:       pod.Name,
			LabelPodNamespace:  pod.Namespace,
			LabelContainerName: c.Name,
			LabelRestartCount:  strconv.Itoa(in.attempt),
		},
		HostsPath:      filepath.Join(in.podDir, "etc-hosts"),
		ResolvConfPath: filepath.Join(in.podDir, "resolv.conf"),
		HostnamePath:   filepath.Join(in.podDir, "hostname"),
		CgroupParent:   podCgroupParent(in.cgroups, pod),
	}
	if in.hostNet {
		cfg.NetNS, cfg.UTSNS = "host", "host"
		cfg.HostsPath = ""
	} else if in.sb != nil {
		cfg.NetNS, cfg.UTSNS = in.sb.NetNS, in.sb.UTSNS
	}
	if pod.Spec.HostIPC {
		cfg.IPCNS = "host"
	} else if in.sb != nil {
		cfg.IPCNS = in.sb.IPCNS
	}
	if c.Command != nil && c.Args == nil {
		cfg.Cmd = []string{} // a command without args ignores the image's CMD
	}
	for _, vm := range c.VolumeMounts {
		src, ok := in.volumes[vm.Name]
		if !ok {
			return ContainerConfig{}, fmt.Errorf("volumeMount %q: no volume of that name", vm.Name)
		}
		if vm.SubPath != "" {
			sub := filepath.Clean(vm.SubPath)
			if filepath.IsAbs(sub) || sub == ".." || strings.HasPrefix(sub, "../") {
				return ContainerConfig{}, fmt.Errorf("volumeMount %q: subPath %q must be a relative path inside the volume", vm.Name, vm.SubPath)
			}
			src = filepath.Join(src, sub)
		}
		cfg.Mounts = append(cfg.Mounts, Mount{Type: "bind", Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly, Options: []string{"rbind", "rprivate"}})
	}
	if c.TerminationMessagePath != "" {
		cfg.Mounts = append(cfg.Mounts, Mount{Type: "bind", Source: filepath.Join(in.podDir, "termination-"+c.Name), Destination: c.TerminationMessagePath})
	}
	applyResources(&cfg, c)
	if err := applySecurity(&cfg, pod, c); err != nil {
		return ContainerConfig{}, err
	}
	return cfg, nil
}

// applyResources turns requests and limits into cgroup settings the way
// upstream's kuberuntime does: cpu.shares from the request (2 when none),
// CFS quota from the limit over a 100 ms period, memory limit from the limit.
func applyResources(cfg *ContainerConfig, c *corev1.Container) {
	shares := uint64(2)
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		shares = max(uint64(q.MilliValue()*1024/1000), 2)
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		shares = max(uint64(q.MilliValue()*1024/1000), 2) // the request defaults to the limit
	}
	cfg.CPUShares = shares
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		cfg.CPUQuota = max(q.MilliValue()*100, 1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		cfg.MemoryLimit = q.Value()
	}
}

func applySecurity(cfg *ContainerConfig, pod *corev1.Pod, c *corev1.Container) error {
	var uid, gid *int64
	var groups []uint32
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		if psc.FSGroup != nil {
			groups = append(groups, uint32(*psc.FSGroup))
		}
	}
	sc := c.SecurityContext
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
		if sc.Privileged != nil {
			cfg.Privileged = *sc.Privileged
		}
		if sc.ReadOnlyRootFilesystem != nil {
			cfg.ReadonlyRootfs = *sc.ReadOnlyRootFilesystem
		}
		if sc.Capabilities != nil {
			for _, cp := range sc.Capabilities.Add {
				cfg.CapAdd = append(cfg.CapAdd, string(cp))
			}
			for _, cp := range sc.Capabilities.Drop {
				cfg.CapDrop = append(cfg.CapDrop, string(cp))
			}
		}
	}
	switch {
	case uid != nil && gid != nil:
		cfg.User = fmt.Sprintf("%d:%d", *uid, *gid)
	case uid != nil:
		cfg.User = strconv.FormatInt(*uid, 10)
	case gid != nil:
		return fmt.Errorf("runAsGroup is specified without a runAsUser")
	}
	if sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && (uid == nil || *uid == 0) {
		if uid != nil {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
		}
	}
	cfg.SupplementaryGroups = groups
	return nil
}
