package dockerapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/network"
)

// Network is what docker-run containers need from the node's networking
// (internal/network): a pinned namespace per sandbox, attached to a bridge,
// with host ports published.
type Network interface {
	CreateNetns(id string) (string, error)
	DeleteNetns(id string) error
	Add(ctx context.Context, id, netnsPath string, ports []network.PortMapping) (network.Attachment, error)
	Del(ctx context.Context, id, netnsPath string, ports []network.PortMapping) error
}

// Annotations berth keeps on the engine's containers for the Docker API.
const (
	annSandbox = "berth.docker/sandbox" // sandbox id of the network namespace
	annCreate  = "berth.docker/create"  // the create request, JSON, for inspect
	annIP      = "berth.docker/ip"
	annGateway = "berth.docker/gateway"
)

// sandbox is a docker container's network: its namespace and published
// ports. It lives from create to remove (so restarts keep the address and
// the ports), recorded in DATA_DIR/docker/sandboxes/<id>.json so that it is
// released even when berth was down when the container went away.
type sandbox struct {
	ID    string                `json:"id"`
	Netns string                `json:"netns"`
	Ports []network.PortMapping `json:"ports,omitempty"`
}

type sandboxes struct {
	dir string
	net Network
	mu  sync.Mutex // serializes port allocation and release
	// ready holds sandboxes attached ahead of time for containers without
	// published ports, which most `docker run`s are: the CNI ADD (tens of
	// milliseconds of plugin execs) then happens off the request's path.
	ready chan readySandbox
}

type readySandbox struct {
	sb  *sandbox
	att network.Attachment
}

// readyPool is how many port-less sandboxes are kept attached.
const readyPool = 2

// take returns a sandbox for ports: a ready one when there are no ports and
// one is waiting, else a new one.
func (sb *sandboxes) take(ctx context.Context, ports []network.PortMapping) (*sandbox, network.Attachment, error) {
	if len(ports) == 0 {
		select {
		case r := <-sb.ready:
			return r.sb, r.att, nil
		default:
		}
	}
	return sb.create(ctx, ports)
}

// fill keeps the ready pool full until ctx is done, then releases what it
// holds. Failures wait and retry: the pool only saves time.
func (sb *sandboxes) fill(ctx context.Context, log *slog.Logger) {
	defer func() {
		for {
			select {
			case r := <-sb.ready:
				if err := sb.release(context.WithoutCancel(ctx), r.sb.ID); err != nil {
					log.Warn("release a ready sandbox", "sandbox", r.sb.ID, "err", err)
				}
			default:
				return
			}
		}
	}()
	for {
		sbx, att, err := sb.create(ctx, nil)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("prepare a container network ahead of time", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			continue
		}
		select {
		case sb.ready <- readySandbox{sbx, att}:
		case <-ctx.Done():
			if err := sb.release(context.WithoutCancel(ctx), sbx.ID); err != nil {
				log.Warn("release a ready sandbox", "sandbox", sbx.ID, "err", err)
			}
			return
		}
	}
}

func (sb *sandboxes) file(id string) string { return filepath.Join(sb.dir, id+".json") }

func (sb *sandboxes) list() ([]sandbox, error) {
	entries, err := os.ReadDir(sb.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []sandbox
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sb.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var s sandbox
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// allocated reports the host ports held by sandboxes.
func (sb *sandboxes) allocated() (map[string]bool, error) {
	all, err := sb.list()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, s := range all {
		for _, p := range s.Ports {
			used[p.Protocol+"/"+strconv.Itoa(p.HostPort)] = true
		}
	}
	return used, nil
}

// create makes a sandbox: a pinned namespace on the bridge, ports published. Docker's own wording is kept
// for a taken port, since scripts grep for "port is already allocated".
func (sb *sandboxes) create(ctx context.Context, ports []network.PortMapping) (*sandbox, network.Attachment, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	used, err := sb.allocated()
	if err != nil {
		return nil, network.Attachment{}, err
	}
	for i := range ports {
		p := &ports[i]
		if p.HostPort == 0 {
			if p.HostPort, err = freePort(p.Protocol, used); err != nil {
				return nil, network.Attachment{}, err
			}
		}
		key := p.Protocol + "/" + strconv.Itoa(p.HostPort)
		hostIP := p.HostIP
		if hostIP == "" {
			hostIP = "0.0.0.0"
		}
		if used[key] || !portFree(p.Protocol, p.HostIP, p.HostPort) {
			return nil, network.Attachment{}, conflict("driver failed programming external connectivity on endpoint: Bind for %s:%d failed: port is already allocated", hostIP, p.HostPort)
		}
		used[key] = true
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return nil, network.Attachment{}, err
	}
	s := &sandbox{ID: "docker-" + hex.EncodeToString(b), Ports: ports}
	if err := os.MkdirAll(sb.dir, 0o700); err != nil {
		return nil, network.Attachment{}, err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil, network.Attachment{}, err
	}
	// Recorded first, so a crash between the steps below still gets
	// cleaned up by gc.
	if err := os.WriteFile(sb.file(s.ID), data, 0o600); err != nil {
		return nil, network.Attachment{}, err
	}
	if s.Netns, err = sb.net.CreateNetns(s.ID); err == nil {
		if data, err = json.Marshal(s); err == nil {
			err = os.WriteFile(sb.file(s.ID), data, 0o600)
		}
	}
	var att network.Attachment
	if err == nil {
		att, err = sb.net.Add(ctx, s.ID, s.Netns, s.Ports)
	}
	if err != nil {
		if rerr := sb.releaseLocked(ctx, s.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, network.Attachment{}, fmt.Errorf("container network: %w", err)
	}
	return s, att, nil
}

// release undoes create; releasing twice is fine.
func (sb *sandboxes) release(ctx context.Context, id string) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.releaseLocked(ctx, id)
}

func (sb *sandboxes) releaseLocked(ctx context.Context, id string) error {
	b, err := os.ReadFile(sb.file(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var s sandbox
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	netns := s.Netns
	if netns == "" {
		netns = "/nonexistent" // never created: the plugins still release what Add may have taken
	}
	if err := sb.net.Del(ctx, s.ID, netns, s.Ports); err != nil {
		return err
	}
	if err := sb.net.DeleteNetns(s.ID); err != nil {
		return err
	}
	return os.Remove(sb.file(id))
}

// gc releases sandboxes whose container is gone (removed while berth was
// down, or a crash between create steps).
func (sb *sandboxes) gc(ctx context.Context, eng Engine) error {
	all, err := sb.list()
	if err != nil {
		return err
	}
	cs, err := eng.List(ctx, engine.ListOptions{All: true})
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, c := range cs {
		inUse[c.Spec.Annotations[annSandbox]] = true
	}
	var errs []error
	for _, s := range all {
		if !inUse[s.ID] {
			errs = append(errs, sb.release(ctx, s.ID))
		}
	}
	return errors.Join(errs...)
}

// ReleaseNetworks releases the network of every docker container recorded
// under dataDir, whether or not the container still exists (berth reset).
func ReleaseNetworks(ctx context.Context, dataDir string, net Network) error {
	sb := &sandboxes{dir: sandboxDir(dataDir), net: net}
	all, err := sb.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range all {
		errs = append(errs, sb.release(ctx, s.ID))
	}
	return errors.Join(errs...)
}

func sandboxDir(dataDir string) string { return filepath.Join(dataDir, "docker", "sandboxes") }

// freePort picks an unused host port from docker's ephemeral range.
func freePort(proto string, used map[string]bool) (int, error) {
	for p := 32768; p <= 60999; p++ {
		if !used[proto+"/"+strconv.Itoa(p)] && portFree(proto, "", p) {
			return p, nil
		}
	}
	return 0, errors.New("no free host port")
}

// portFree reports whether nothing on the host listens on the port, so a
// published port never silently shadows a host service.
func portFree(proto, ip string, port int) bool {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// portBindings turns HostConfig.PortBindings (plus -P) into CNI port mappings.
func portBindings(hc hostConfig, exposed map[string]struct{}) ([]network.PortMapping, error) {
	var out []network.PortMapping
	keys := make([]string, 0, len(hc.PortBindings))
	for k := range hc.PortBindings {
		keys = append(keys, k)
	}
	if hc.PublishAllPorts {
		for k := range exposed {
			if _, ok := hc.PortBindings[k]; !ok {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		port, proto, _ := strings.Cut(k, "/")
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, badRequest("invalid port protocol %q", proto)
		}
		cp, err := strconv.Atoi(port)
		if err != nil || cp < 1 || cp > 65535 {
			return nil, badRequest("invalid port specification: %q", k)
		}
		binds := hc.PortBindings[k]
		if len(binds) == 0 {
			binds = []portBinding{{}}
		}
		for _, b := range binds {
			hp := 0
			if b.HostPort != "" {
				lo, _, _ := strings.Cut(b.HostPort, "-")
				if hp, err = strconv.Atoi(lo); err != nil || hp < 1 || hp > 65535 {
					return nil, badRequest("invalid hostPort: %s", b.HostPort)
				}
			}
			ip := b.HostIP
			if ip == "0.0.0.0" || ip == "::" {
				ip = ""
			}
			out = append(out, network.PortMapping{HostPort: hp, ContainerPort: cp, Protocol: proto, HostIP: ip})
		}
	}
	return out, nil
}
