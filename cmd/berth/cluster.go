package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/cluster"
)

// clusterOptions are the flags that make servers share one embedded etcd
// cluster (high availability), as k3s's --cluster-init and --server.
type clusterOptions struct {
	Init   bool
	Server string
	Token  string
}

func (o *clusterOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Init, "cluster-init", false, "(server/cluster) start an embedded etcd cluster that other servers join with --server")
	fs.StringVar(&o.Server, "server", "", "(server/cluster) join the cluster of the server at https://HOST:6443 (needs --token)")
	fs.StringVar(&o.Token, "token", "", "(server/cluster) the cluster's join token, with --server")
}

// clusterMember returns how to configure the embedded etcd as a cluster
// member, or nil for the single-server default (see cluster.Prepare).
func clusterMember(ctx context.Context, o *serverOptions, log *slog.Logger) (func(*embed.Config), error) {
	c := o.Cluster
	if (c.Init || c.Server != "") && len(o.EtcdEndpoints) > 0 {
		return nil, errors.New("--cluster-init and --server run embedded etcd; they don't go with --etcd-endpoints")
	}
	if c.Server != "" && c.Token == "" {
		return nil, errors.New("--server needs --token, the join token of the cluster")
	}
	advertise := o.AdvertiseAddress
	if advertise == "" {
		advertise = defaultAdvertiseAddress(o.BindAddress)
	}
	return cluster.Prepare(ctx, cluster.Options{
		Init: c.Init, Server: c.Server, Token: c.Token, DataDir: o.DataDir, Advertise: advertise,
		LoadCA: func() (*auth.PKI, error) {
			ip, err := firstServiceIP(o.ServiceCIDR)
			if err != nil {
				return nil, err
			}
			return auth.LoadOrCreatePKI(filepath.Join(o.DataDir, "tls"), servingSANs(advertise, ip))
		},
		Log: log.With("component", "cluster"),
	})
}

// withCluster serves the join endpoints of a cluster member next to the
// API; a single server doesn't serve them.
func withCluster(api http.Handler, o *serverOptions, token string, etcd *clientv3.Client, log *slog.Logger) http.Handler {
	if !cluster.IsMember(o.DataDir) {
		return api
	}
	return cluster.Route(api, &cluster.Handler{DataDir: o.DataDir, Token: token, Etcd: etcd, Log: log.With("component", "cluster")})
}
