package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Embedded is an etcd member running inside this process.
type Embedded struct {
	etcd   *embed.Etcd
	Client *clientv3.Client
}

// etcdPorts are the loopback ports an embedded etcd listens on. They are
// picked free on first start and then kept in DATA_DIR/etcd/ports.json,
// since the peer URL is part of the member's stored identity; picking
// rather than fixing them lets several berths share a host.
type etcdPorts struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
}

// StartEmbedded starts (or restarts from dir) a single-member etcd with
// quiet logs and returns once it serves. configure, if not nil, changes the
// config last: internal/cluster makes the member part of a cluster.
func StartEmbedded(ctx context.Context, dir string, log *slog.Logger, configure func(*embed.Config)) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	ports, err := loadOrPickPorts(filepath.Join(dir, "ports.json"))
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "berth"
	cfg.Dir = filepath.Join(dir, "data")
	curl := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports.Client)}
	purl := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports.Peer)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	// etcd logs errors for its own orderly shutdown; real failures reach us through Err().
	cfg.LogLevel = "panic"
	cfg.LogOutputs = []string{"stderr"}
	// Fewer raft entries in memory between snapshots: the default (100k)
	// costs tens of MB of RSS for no benefit on a single member.
	cfg.SnapshotCount = 10000
	cfg.SnapshotCatchUpEntries = 5000
	// A single member elects itself after one election timeout: a shorter
	// one (with proportionally shorter heartbeats) cuts startup time.
	cfg.TickMs, cfg.ElectionMs = 20, 200
	// Progress notifications become watch bookmarks (see Store.Watch).
	cfg.WatchProgressNotifyInterval = 30 * time.Second
	if configure != nil {
		configure(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd: not ready after 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	log.Debug("embedded etcd ready", "dir", dir, "client", curl.String())
	// The in-process client skips gRPC over loopback for every request.
	return &Embedded{etcd: e, Client: v3client.New(e.Server)}, nil
}

// Err reports a fatal error of the running member.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the member.
func (e *Embedded) Close() {
	_ = e.Client.Close()
	e.etcd.Close()
}

func loadOrPickPorts(path string) (etcdPorts, error) {
	var p etcdPorts
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &p); err == nil && p.Client > 0 && p.Peer > 0 {
			return p, nil
		}
	}
	// Both listeners stay open until both ports are known, so they differ.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return p, fmt.Errorf("pick a port for etcd: %w", err)
		}
		ls = append(ls, l)
	}
	p.Client, p.Peer = ls[0].Addr().(*net.TCPAddr).Port, ls[1].Addr().(*net.TCPAddr).Port
	b, _ := json.Marshal(p)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return p, fmt.Errorf("write %s: %w", path, err)
	}
	return p, nil
}
