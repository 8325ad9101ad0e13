package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/berth-dev/berth/internal/network"
)

// sandbox is a pod's shared namespaces and its address, recorded in the
// pod directory so a restarted kubelet adopts it.
type sandbox struct {
	NetNS string     `json:"netns"`
	IPCNS string     `json:"ipcns"`
	UTSNS string     `json:"utsns"`
	IP    netip.Addr `json:"ip"`
}

func sandboxFile(podDir string) string { return filepath.Join(podDir, "sandbox.json") }

func loadSandbox(podDir string) (*sandbox, error) {
	b, err := os.ReadFile(sandboxFile(podDir))
	if err != nil {
		return nil, err
	}
	var s sandbox
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("sandbox record: %w", err)
	}
	return &s, nil
}

func (s *sandbox) save(podDir string) error {
	b, _ := json.Marshal(s) // plain strings always marshal
	tmp := sandboxFile(podDir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, sandboxFile(podDir))
}

// pinIPCUTS creates the pod's IPC and UTS namespaces with the pod's
// hostname and pins them at dir/ipc and dir/uts.
func pinIPCUTS(dir, hostname string) (ipc, uts string, retErr error) {
	ipc, uts = filepath.Join(dir, "ipc"), filepath.Join(dir, "uts")
	for _, p := range []string{ipc, uts} {
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o444)
		if err != nil {
			return "", "", err
		}
		f.Close()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread leaves its namespaces changed; staying locked when the
		// goroutine ends makes the runtime discard it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWIPC | unix.CLONE_NEWUTS); err != nil {
			errc <- fmt.Errorf("unshare ipc/uts: %w", err)
			return
		}
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			errc <- fmt.Errorf("sethostname: %w", err)
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/ipc", ipc, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin ipc namespace: %w", err)
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/uts", uts, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin uts namespace: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		unpin(ipc)
		unpin(uts)
		return "", "", err
	}
	return ipc, uts, nil
}

func unpin(p string) error {
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// podHostname is spec.hostname or the pod name, cut to 63 bytes.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// hostPorts are the pod's hostPort mappings for CNI portmap.
func hostPorts(pod *corev1.Pod) []network.PortMapping {
	var out []network.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, network.PortMapping{HostPort: int(p.HostPort), ContainerPort: int(p.ContainerPort), Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

// etcHosts renders the pod's /etc/hosts (upstream's managed hosts file).
func etcHosts(pod *corev1.Pod, ip, domain string) []byte {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := podHostname(pod)
	if ip != "" {
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, host)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return []byte(b.String())
}

// resolvConf renders /etc/resolv.conf per dnsPolicy (upstream's
// pkg/kubelet/network/dns). hostConf is the node's own resolv.conf.
func resolvConf(pod *corev1.Pod, clusterDNS, domain string, hostConf []byte) []byte {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirstWithHostNet {
		policy = corev1.DNSClusterFirst
	}
	if pod.Spec.HostNetwork && pod.Spec.DNSPolicy == corev1.DNSClusterFirst {
		policy = corev1.DNSDefault
	}
	var servers, searches []string
	options := []string{}
	switch policy {
	case corev1.DNSClusterFirst:
		if clusterDNS != "" {
			servers = []string{clusterDNS}
			searches = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
			options = []string{"ndots:5"}
			break
		}
		fallthrough
	case corev1.DNSDefault:
		for _, l := range strings.Split(string(hostConf), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "nameserver":
				servers = append(servers, f[1])
			case "search":
				searches = append(searches, f[1:]...)
			case "options":
				options = append(options, f[1:]...)
			}
		}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = append(servers, c.Nameservers...)
		searches = append(searches, c.Searches...)
		for _, o := range c.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	var b strings.Builder
	if len(searches) > 0 {
		b.WriteString("search " + strings.Join(searches, " ") + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return []byte(b.String())
}
