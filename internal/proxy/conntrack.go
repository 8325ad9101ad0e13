package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
)

// staleUDP lists the conntrack deletions a sync from old to cur calls for.
// UDP has no connection end, so a client that keeps its source port keeps
// its NAT binding to an endpoint that is gone, or to the REJECT it got while
// there was none; kube-proxy clears such entries the same way
// (pkg/proxy/conntrack upstream). Each entry is one `conntrack -D` argument
// list.
func staleUDP(old, cur []Service) [][]string {
	type portKey struct {
		ns, name string
		port     int32
	}
	before := map[portKey]struct {
		svc  *Service
		port *Port
	}{}
	for i := range old {
		for j := range old[i].Ports {
			p := &old[i].Ports[j]
			if p.Protocol == "udp" {
				before[portKey{old[i].Namespace, old[i].Name, p.Port}] = struct {
					svc  *Service
					port *Port
				}{&old[i], p}
			}
		}
	}
	var out [][]string
	for i := range cur {
		s := &cur[i]
		for j := range s.Ports {
			p := &s.Ports[j]
			if p.Protocol != "udp" {
				continue
			}
			prev, ok := before[portKey{s.Namespace, s.Name, p.Port}]
			if !ok {
				continue
			}
			dests := append([]netip.Addr{s.ClusterIP}, s.ExternalIPs...)
			if len(prev.port.Endpoints) == 0 && len(p.Endpoints) > 0 {
				// Entries made while the port was rejected.
				for _, d := range dests {
					out = append(out, []string{"-p", "udp", "--orig-dst", d.String(), "--orig-port-dst", itoa(p.Port)})
				}
				if p.NodePort != 0 {
					out = append(out, []string{"-p", "udp", "--orig-port-dst", itoa(p.NodePort)})
				}
				continue
			}
			for _, ep := range prev.port.Endpoints {
				if slices.Contains(p.Endpoints, ep) {
					continue
				}
				// Entries still NATed to an endpoint that is gone.
				out = append(out, []string{"-p", "udp", "--reply-src", ep.IP.String(), "--reply-port-src", itoa(ep.Port)})
			}
		}
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(strings.Join(a, " "), strings.Join(b, " ")) })
	return slices.CompactFunc(out, slices.Equal)
}

// deleteConntrack runs `conntrack -D` for each argument list. "0 flow
// entries have been deleted" is exit status 1 and not an error.
func deleteConntrack(ctx context.Context, entries [][]string) error {
	var errs []error
	for _, args := range entries {
		out, err := exec.CommandContext(ctx, "conntrack", append([]string{"-D"}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 && strings.Contains(string(out), "0 flow entries") {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("conntrack -D %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}
