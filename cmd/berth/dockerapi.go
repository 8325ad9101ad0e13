package main

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"

	"github.com/berth-dev/berth/internal/dockerapi"
	"github.com/berth-dev/berth/internal/engine/build"
	"github.com/berth-dev/berth/internal/network"
)

// The Docker API's own bridge network, apart from the pod network.
// TODO(network): unify with the kubelet's network setup once both settle on
// one host-side owner; the two bridges never share addresses meanwhile.
const (
	dockerBridge = "berth-docker0"
	dockerSubnet = "10.88.0.0/16"
)

func init() {
	registerReset("docker-network", resetDockerNetwork)
}

func dockerNetwork(dataDir, nodeIP string) (*network.Network, error) {
	cfg := network.Config{
		Bridge:   dockerBridge,
		Subnet:   netip.MustParsePrefix(dockerSubnet),
		StateDir: filepath.Join(dataDir, "docker", "net"),
	}
	// Replies to connections published with -p come back from the node's
	// address (CNI portmap masquerades only 127.0.0.1 clients), so it is the
	// one destination besides the bridge a container can reach. There is no
	// default route: a docker-run container never reaches off the machine.
	if ip, err := netip.ParseAddr(nodeIP); err == nil && ip.Is4() {
		cfg.Routes = []netip.Prefix{netip.PrefixFrom(ip, 32)}
	}
	return network.New(cfg)
}

// runDockerAPI serves the Docker Engine API on unix://DATA_DIR/docker.sock until ctx is done.
func runDockerAPI(ctx context.Context, n *nodeEnv) error {
	log := n.log.With("component", "dockerapi")
	dataDir := n.opts.DataDir
	net, err := dockerNetwork(dataDir, n.opts.NodeIP)
	if err != nil {
		return err
	}
	b, err := build.New(build.Config{Engine: n.eng, Dir: filepath.Join(dataDir, "docker", "build"), Log: log.With("component", "build")})
	if err != nil {
		return err
	}
	srv := dockerapi.New(dockerapi.Config{
		Engine: n.eng, Builder: b, Network: net, DataDir: dataDir,
		BridgeName: dockerBridge, SubnetBits: netip.MustParsePrefix(dockerSubnet).Bits(), Log: log,
	})
	return srv.Serve(ctx, filepath.Join(dataDir, "docker.sock"))
}

// resetDockerNetwork releases every docker container's addresses and
// published ports, then removes the bridge, its nftables table and the
// pinned namespaces.
func resetDockerNetwork(ctx context.Context, dataDir string) error {
	net, err := dockerNetwork(dataDir, "")
	if err != nil {
		return err
	}
	errs := []error{dockerapi.ReleaseNetworks(ctx, dataDir, net)}
	errs = append(errs, network.Reset(dockerBridge, filepath.Join(dataDir, "docker", "net")))
	return errors.Join(errs...)
}
