// Package network gives pods and Docker-API containers their network: a
// network namespace each, attached to a Linux bridge by the standard CNI
// plugins (bridge with host-local IPAM, portmap for host ports) through
// libcni. The host side (bridge, gateway address, per-device forwarding,
// masquerade, the service-CIDR route) is set up once by Setup, so the
// plugins never touch the global ip_forward switch (MACHINE-NOTES item 4).
//
// It knows nothing about Pods or Docker; it must not import client-go, the
// kubelet or the engine.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// DefaultPluginDir is where Debian's containernetworking-plugins live.
const DefaultPluginDir = "/usr/lib/cni"

// Config describes one bridge network on this host.
type Config struct {
	// Bridge is the Linux bridge name (at most 15 bytes), e.g. "cni-berth0".
	Bridge string
	// Subnet is the address range of the bridge; its first address is the
	// gateway and sits on the bridge.
	Subnet netip.Prefix
	// Routes are extra destinations (cluster CIDR, service CIDR) that the
	// sandbox reaches through the gateway. There is never a default route,
	// so nothing a sandbox sends can leave the machine unless the host routes it.
	Routes []netip.Prefix
	// HostRoutes are routed from the host's own namespace onto the bridge
	// (the service CIDR, so a node can connect() to a ClusterIP before NAT:
	// MACHINE-NOTES item 16). Only one network per host should claim them.
	HostRoutes []netip.Prefix
	// NoMasquerade lists destinations reached with the sandbox's own
	// address; traffic from Subnet to anywhere else off the bridge is
	// masqueraded. Empty means Subnet only.
	NoMasquerade []netip.Prefix
	// StateDir holds the netns mounts, the IPAM leases and the CNI result
	// cache. Reset removes what is under it.
	StateDir string
	// PluginDir defaults to DefaultPluginDir.
	PluginDir string
	Log       *slog.Logger
}

// PortMapping publishes a sandbox port on the host (CNI portmap).
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp" or "udp"
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment is the outcome of Add.
type Attachment struct {
	IP      netip.Addr
	Gateway netip.Addr
}

// Network is one bridge network. Its methods are safe for concurrent use.
type Network struct {
	cfg   Config
	cni   *libcni.CNIConfig
	plain *libcni.NetworkConfigList // bridge only
	ports *libcni.NetworkConfigList // bridge + portmap

	setupOnce sync.Once
	setupErr  error
}

// New checks cfg and prepares the CNI configuration. It changes nothing on
// the host; Setup (called by the first Add) does.
func New(cfg Config) (*Network, error) {
	if cfg.Bridge == "" || len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("network: bridge name %q must have 1-15 bytes", cfg.Bridge)
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("network: subnet %v must be an IPv4 prefix of /30 or wider", cfg.Subnet)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("network: StateDir is required")
	}
	if cfg.PluginDir == "" {
		cfg.PluginDir = DefaultPluginDir
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Subnet = cfg.Subnet.Masked()
	if len(cfg.NoMasquerade) == 0 {
		cfg.NoMasquerade = []netip.Prefix{cfg.Subnet}
	}
	n := &Network{cfg: cfg, cni: libcni.NewCNIConfigWithCacheDir([]string{cfg.PluginDir}, filepath.Join(cfg.StateDir, "cache"), nil)}
	var err error
	if n.plain, err = libcni.ConfListFromBytes(conflist(cfg, false)); err != nil {
		return nil, fmt.Errorf("network: conflist: %w", err)
	}
	if n.ports, err = libcni.ConfListFromBytes(conflist(cfg, true)); err != nil {
		return nil, fmt.Errorf("network: conflist: %w", err)
	}
	return n, nil
}

// Gateway is the bridge's address: the first address of the subnet.
func (n *Network) Gateway() netip.Addr { return n.cfg.Subnet.Addr().Next() }

// conflist renders the CNI network list. isGateway stays false: Setup puts
// the gateway address on the bridge itself, because the bridge plugin in
// gateway mode switches on net.ipv4.ip_forward for every interface.
func conflist(cfg Config, withPorts bool) []byte {
	routes := []map[string]string{}
	for _, r := range cfg.Routes {
		routes = append(routes, map[string]string{"dst": r.String()})
	}
	plugins := []any{map[string]any{
		"type":        "bridge",
		"bridge":      cfg.Bridge,
		"isGateway":   false,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": cfg.Subnet.String(), "gateway": cfg.Subnet.Addr().Next().String()}}},
			"routes":  routes,
			"dataDir": filepath.Join(cfg.StateDir, "ipam"),
		},
	}}
	if withPorts {
		plugins = append(plugins, map[string]any{
			"type":         "portmap",
			"snat":         true,
			"capabilities": map[string]bool{"portMappings": true},
		})
	}
	b, _ := json.Marshal(map[string]any{ // a map of strings and slices always marshals
		"cniVersion": "1.0.0",
		"name":       cfg.Bridge,
		"plugins":    plugins,
	})
	return b
}

// NetnsPath is where the namespace of sandbox id is pinned.
func (n *Network) NetnsPath(id string) string { return filepath.Join(n.cfg.StateDir, "netns", id) }

// CreateNetns makes the pinned namespace of sandbox id and returns its path.
func (n *Network) CreateNetns(id string) (string, error) {
	p := n.NetnsPath(id)
	return p, NewNetns(p)
}

// DeleteNetns unpins the namespace of sandbox id; missing is fine.
func (n *Network) DeleteNetns(id string) error { return DeleteNetns(n.NetnsPath(id)) }

// Add attaches the namespace at netnsPath to the bridge as eth0 and returns
// its address. Ports are published with portmap. Del with the same
// arguments undoes it.
func (n *Network) Add(ctx context.Context, id, netnsPath string, ports []PortMapping) (Attachment, error) {
	if err := n.Setup(); err != nil {
		return Attachment{}, err
	}
	res, err := n.cni.AddNetworkList(ctx, n.list(ports), n.runtimeConf(id, netnsPath, ports))
	if err != nil {
		return Attachment{}, fmt.Errorf("cni add %s: %w", id, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Attachment{}, fmt.Errorf("cni add %s: result: %w", id, err)
	}
	for _, ipc := range r.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP.To4()); ok {
			gw, _ := netip.AddrFromSlice(ipc.Gateway.To4())
			return Attachment{IP: a, Gateway: gw}, nil
		}
	}
	return Attachment{}, fmt.Errorf("cni add %s: no IPv4 address in result", id)
}

// Del detaches sandbox id and releases its address. It is idempotent: a
// sandbox that was never added, or whose namespace is gone, is fine.
func (n *Network) Del(ctx context.Context, id, netnsPath string, ports []PortMapping) error {
	if _, err := os.Stat(netnsPath); err != nil {
		// The plugins still release the IP and host rules without a namespace.
		netnsPath = ""
	}
	if err := n.cni.DelNetworkList(ctx, n.list(ports), n.runtimeConf(id, netnsPath, ports)); err != nil {
		return fmt.Errorf("cni del %s: %w", id, err)
	}
	return nil
}

func (n *Network) list(ports []PortMapping) *libcni.NetworkConfigList {
	if len(ports) > 0 {
		return n.ports
	}
	return n.plain
}

func (n *Network) runtimeConf(id, netnsPath string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netnsPath, IfName: "eth0"}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// Setup prepares the host side once: the bridge with the gateway address,
// forwarding on the bridge only, the masquerade rule and HostRoutes. Add
// calls it; callers may call it earlier to fail fast.
func (n *Network) Setup() error {
	n.setupOnce.Do(func() { n.setupErr = n.setup() })
	return n.setupErr
}

func (n *Network) setup() error {
	br, gw := n.cfg.Bridge, n.Gateway()
	// Not /sys/class/net: under `nsenter --net` sysfs still shows the host's links.
	if _, err := net.InterfaceByName(br); err != nil {
		if err := run("ip", "link", "add", br, "type", "bridge"); err != nil {
			return err
		}
	}
	addr := netip.PrefixFrom(gw, n.cfg.Subnet.Bits()).String()
	if err := run("ip", "addr", "replace", addr, "dev", br); err != nil {
		return err
	}
	if err := run("ip", "link", "set", br, "up"); err != nil {
		return err
	}
	// Forwarding is per ingress device for IPv4: the bridge is where pod
	// traffic enters the host, so only it forwards.
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+br+"/forwarding", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable forwarding on %s: %w", br, err)
	}
	for _, r := range n.cfg.HostRoutes {
		if err := run("ip", "route", "replace", r.String(), "dev", br, "src", gw.String()); err != nil {
			return err
		}
	}
	if err := nft(masqueradeRules(n.cfg)); err != nil {
		return fmt.Errorf("masquerade rules for %s: %w", br, err)
	}
	n.cfg.Log.Info("bridge ready", "bridge", br, "gateway", gw, "subnet", n.cfg.Subnet)
	return nil
}

// nftTable is the nftables table holding one bridge's masquerade rule.
func nftTable(bridge string) string { return "berth-" + bridge }

// masqueradeRules renders one atomic nft transaction that (re)creates the
// bridge's table.
func masqueradeRules(cfg Config) string {
	var keep []string
	for _, p := range cfg.NoMasquerade {
		keep = append(keep, p.String())
	}
	t := nftTable(cfg.Bridge)
	return fmt.Sprintf(`table ip %[1]s
delete table ip %[1]s
table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s ip daddr != { %[3]s } oifname != "%[4]s" masquerade
	}
}
`, t, cfg.Subnet, strings.Join(keep, ", "), cfg.Bridge)
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Reset removes what a Network with this bridge and state dir left on the
// host: pinned namespaces, the bridge (its veths go with the namespaces),
// the nftables table, IPAM leases and the CNI cache. portmap rules of
// sandboxes that were never deleted stay (they are keyed by container id).
func Reset(bridge, stateDir string) error {
	var errs []error
	nsDir := filepath.Join(stateDir, "netns")
	entries, _ := os.ReadDir(nsDir) // a missing dir means nothing was pinned
	for _, e := range entries {
		if err := DeleteNetns(filepath.Join(nsDir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		if err := run("ip", "link", "del", bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if out, err := exec.Command("nft", "list", "table", "ip", nftTable(bridge)).CombinedOutput(); err == nil && len(out) > 0 {
		if err := run("nft", "delete", "table", "ip", nftTable(bridge)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{"ipam", "cache"} {
		if err := os.RemoveAll(filepath.Join(stateDir, d)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
