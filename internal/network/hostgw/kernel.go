package hostgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// RouteProtocol marks the routes this package installs (`ip route ...
// proto 150`), as bird uses 12 and Calico 80: listing, replacing and
// deleting by it never touches a route someone else made. 150 is not in
// iproute2's rt_protos.
const RouteProtocol = "150"

// forwardingFile records, per device, the forwarding value found before
// this package switched it on, so Reset can put it back.
const forwardingFile = "forwarding.json"

// host is what sync changes: the routes and forwarding switches of the
// calling process's network namespace. Tests put a fake in its place.
type host interface {
	matching(ctx context.Context, addr netip.Addr) ([]KernelRoute, error)
	installed(ctx context.Context) ([]Route, error)
	replace(ctx context.Context, r Route) error
	remove(ctx context.Context, dst netip.Prefix) error
	enableForwarding(dev string) error
}

// iproute is the real host: iproute2 and /proc/sys/net.
type iproute struct{ stateDir string }

func (iproute) matching(ctx context.Context, addr netip.Addr) ([]KernelRoute, error) {
	return matching(ctx, addr)
}
func (iproute) installed(ctx context.Context) ([]Route, error)     { return installed(ctx) }
func (iproute) replace(ctx context.Context, r Route) error         { return replaceRoute(ctx, r) }
func (iproute) remove(ctx context.Context, dst netip.Prefix) error { return deleteRoute(ctx, dst) }
func (h iproute) enableForwarding(dev string) error                { return enableForwarding(h.stateDir, dev) }

// ip runs iproute2 and returns its stdout.
func ip(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// installed lists the routes of RouteProtocol in the main table.
func installed(ctx context.Context) ([]Route, error) {
	out, err := ip(ctx, "-j", "route", "show", "proto", RouteProtocol)
	if err != nil {
		return nil, err
	}
	var krs []KernelRoute
	if err := json.Unmarshal(out, &krs); err != nil {
		return nil, fmt.Errorf("parse ip route show: %w", err)
	}
	routes := make([]Route, 0, len(krs))
	for _, k := range krs {
		dst, err := k.prefix()
		if err != nil {
			return nil, fmt.Errorf("installed route %q: %w", k.Dst, err)
		}
		// A gateway-less route of ours can't exist; an unparsable one
		// gets the zero Addr, differs from every want and is replaced.
		gw, _ := netip.ParseAddr(k.Gateway)
		routes = append(routes, Route{Dst: dst, Gateway: gw, Dev: k.Dev})
	}
	return routes, nil
}

// matching returns the main-table routes that contain addr.
func matching(ctx context.Context, addr netip.Addr) ([]KernelRoute, error) {
	out, err := ip(ctx, "-j", "route", "show", "match", addr.String())
	if err != nil {
		return nil, err
	}
	var krs []KernelRoute
	if err := json.Unmarshal(out, &krs); err != nil {
		return nil, fmt.Errorf("parse ip route show match %s: %w", addr, err)
	}
	return krs, nil
}

func replaceRoute(ctx context.Context, r Route) error {
	_, err := ip(ctx, "route", "replace", r.Dst.String(), "via", r.Gateway.String(), "dev", r.Dev, "proto", RouteProtocol)
	return err
}

func deleteRoute(ctx context.Context, dst netip.Prefix) error {
	_, err := ip(ctx, "route", "del", dst.String(), "proto", RouteProtocol)
	if err != nil && strings.Contains(err.Error(), "No such process") {
		return nil // already gone
	}
	return err
}

// enableForwarding switches IPv4 forwarding on for dev alone: for IPv4 the
// kernel checks the device a packet arrives on, so the link to the other
// nodes must forward for their pods' packets to reach the local bridge.
// The global ip_forward switch stays as it is (MACHINE-NOTES item 4). The
// old value is recorded in stateDir first, once per device.
func enableForwarding(stateDir, dev string) error {
	if dev == "" || dev == "." || dev == ".." || strings.Contains(dev, "/") {
		return fmt.Errorf("device name %q", dev)
	}
	p := filepath.Join("/proc/sys/net/ipv4/conf", dev, "forwarding")
	old, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read forwarding of %s: %w", dev, err)
	}
	if strings.TrimSpace(string(old)) == "1" {
		return nil
	}
	saved, err := readForwarding(stateDir)
	if err != nil {
		return err
	}
	if _, ok := saved[dev]; !ok {
		saved[dev] = strings.TrimSpace(string(old))
		if err := writeForwarding(stateDir, saved); err != nil {
			return err
		}
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable forwarding on %s: %w", dev, err)
	}
	return nil
}

func readForwarding(stateDir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, forwardingFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read forwarding state: %w", err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(stateDir, forwardingFile), err)
	}
	return m, nil
}

func writeForwarding(stateDir string, m map[string]string) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("forwarding state dir: %w", err)
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	tmp := filepath.Join(stateDir, forwardingFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write forwarding state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(stateDir, forwardingFile)); err != nil {
		return fmt.Errorf("write forwarding state: %w", err)
	}
	return nil
}

// Reset undoes what a Controller with this stateDir did in the calling
// process's network namespace: it deletes every route of RouteProtocol
// and puts back the forwarding values it recorded (devices that are gone
// are skipped).
func Reset(ctx context.Context, stateDir string) error {
	var errs []error
	routes, err := installed(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range routes {
		if err := deleteRoute(ctx, r.Dst); err != nil {
			errs = append(errs, err)
		}
	}
	saved, err := readForwarding(stateDir)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for dev, v := range saved {
		if _, err := strconv.Atoi(v); err != nil {
			errs = append(errs, fmt.Errorf("recorded forwarding of %s: %q", dev, v))
			continue
		}
		p := filepath.Join("/proc/sys/net/ipv4/conf", dev, "forwarding")
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("restore forwarding of %s: %w", dev, err))
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(filepath.Join(stateDir, forwardingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
