package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/pflag"
)

// serverOptions are the flags of `berth server` (and the server half of `berth up`).
type serverOptions struct {
	DataDir       string
	BindAddress   string
	HTTPSPort     int
	EtcdEndpoints []string
	// AdvertiseAddress is the address agents and certificates use for this server;
	// empty means the first non-loopback address of the host.
	AdvertiseAddress string
	ServiceCIDR      string
	ClusterCIDR      string
	ClusterDNS       string
	NodePortRange    string
	RegistryPort     int
	Cluster          clusterOptions // HA: see cluster.go
}

func (o *serverOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", envOr("BERTH_DATA_DIR", "/var/lib/berth"), "(server) directory for etcd, certificates, kubeconfig, images")
	fs.StringVar(&o.BindAddress, "bind-address", "0.0.0.0", "(server) address the API server listens on")
	fs.IntVar(&o.HTTPSPort, "https-port", 6443, "(server) port of the API server")
	fs.StringSliceVar(&o.EtcdEndpoints, "etcd-endpoints", nil, "(server) external etcd endpoints; empty runs embedded etcd in DATA_DIR/etcd")
	fs.StringVar(&o.AdvertiseAddress, "advertise-address", "", "(server) address agents reach this server at (default: first host address)")
	fs.StringVar(&o.ServiceCIDR, "service-cidr", "10.96.0.0/12", "(server/networking) Service ClusterIP range")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "(server/networking) pod network, split into one /24 per node")
	fs.StringVar(&o.ClusterDNS, "cluster-dns", "10.96.0.10", "(server/networking) ClusterIP of the cluster DNS service")
	fs.StringVar(&o.NodePortRange, "service-node-port-range", "30000-32767", "(server/networking) NodePort range")
	fs.IntVar(&o.RegistryPort, "registry-port", 5000, "(server/registry) port of the cluster image registry")
	o.Cluster.addFlags(fs)
}

// agentOptions are the flags of `berth agent` (and the agent half of `berth up`).
type agentOptions struct {
	DataDir  string
	Server   string
	Token    string
	NodeName string
	NodeIP   string
	// Simulate > 0 runs that many simulated nodes (like KWOK) instead of a real one.
	Simulate int
	// The cluster's networks, which must equal the server's; `berth up`
	// copies them from the server's flags.
	ClusterCIDR string
	ServiceCIDR string
	ClusterDNS  string
}

// clusterNet is the parsed form of the agent's network flags.
type clusterNet struct {
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix
	ClusterDNS  string
}

func (o *agentOptions) clusterNet() (clusterNet, error) {
	cc, err := netip.ParsePrefix(o.ClusterCIDR)
	if err != nil {
		return clusterNet{}, fmt.Errorf("--cluster-cidr: %w", err)
	}
	sc, err := netip.ParsePrefix(o.ServiceCIDR)
	if err != nil {
		return clusterNet{}, fmt.Errorf("--service-cidr: %w", err)
	}
	if _, err := netip.ParseAddr(o.ClusterDNS); err != nil {
		return clusterNet{}, fmt.Errorf("--cluster-dns: %w", err)
	}
	return clusterNet{ClusterCIDR: cc, ServiceCIDR: sc, ClusterDNS: o.ClusterDNS}, nil
}

func (o *agentOptions) addFlags(fs *pflag.FlagSet, standalone bool) {
	if standalone {
		fs.StringVar(&o.DataDir, "data-dir", envOr("BERTH_DATA_DIR", "/var/lib/berth"), "(agent) directory for images, containers, pod volumes")
		fs.StringVar(&o.Server, "server", envOr("BERTH_URL", ""), "(agent) URL of the API server, https://HOST:6443")
		fs.StringVar(&o.Token, "token", envOr("BERTH_TOKEN", ""), "(agent) join token printed by the server")
		fs.IntVar(&o.Simulate, "simulate", 0, "(agent) run N simulated nodes that report bound pods Running without containers")
		fs.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "(agent/networking) the cluster's pod network; must match the server's")
		fs.StringVar(&o.ServiceCIDR, "service-cidr", "10.96.0.0/12", "(agent/networking) the cluster's Service range; must match the server's")
		fs.StringVar(&o.ClusterDNS, "cluster-dns", "10.96.0.10", "(agent/networking) ClusterIP of the cluster DNS service; must match the server's")
	}
	fs.StringVar(&o.NodeName, "node-name", "", "(agent) node name (default: hostname)")
	fs.StringVar(&o.NodeIP, "node-ip", "", "(agent) node address (default: first host address)")
}
