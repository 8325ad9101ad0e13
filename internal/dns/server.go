// Package dns is berth's cluster DNS: an authoritative server for the
// cluster domain (cluster.local) built with github.com/miekg/dns, answering
// from Service and EndpointSlice informers the way CoreDNS's kubernetes
// plugin does, and forwarding every other name to the node's resolvers.
//
// Records (CoreDNS kubernetes plugin semantics, code berth's own):
//
//	svc.ns.svc.DOMAIN              A: the ClusterIP; headless: one per ready endpoint; ExternalName: CNAME
//	name.svc.ns.svc.DOMAIN         A: the endpoint whose hostname (or dashed IP) is name (headless)
//	_port._proto.svc.ns.svc.DOMAIN SRV: per named port (per endpoint when headless), targets in Additional
//	a-b-c-d.ns.pod.DOMAIN          A: a.b.c.d (CoreDNS's "pods insecure")
//	d.c.b.a.in-addr.arpa           PTR: the Service of a ClusterIP, the endpoint name of a pod IP
//
// Other names in the domain get NXDOMAIN; a name that exists without the
// asked type gets an empty NOERROR. The package must not import the API
// server, storage, kubelet or engine.
package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// Config configures a Server.
type Config struct {
	// Domain is the cluster domain, "cluster.local" by default.
	Domain string
	// Upstreams are host:port resolvers for names outside the cluster
	// domain; none means SERVFAIL for them.
	Upstreams []string
	// TTL of cluster answers in seconds (CoreDNS's default is 5).
	TTL uint32
	Log *slog.Logger
}

// Server answers DNS queries; it is a dns.Handler.
type Server struct {
	cfg     Config
	store   *Store
	zone    string // "cluster.local."
	metrics *metrics
}

// New returns a Server answering from store.
func New(cfg Config, store *Store) *Server {
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	cfg.Domain = strings.Trim(strings.ToLower(cfg.Domain), ".")
	return &Server{cfg: cfg, store: store, zone: cfg.Domain + ".", metrics: newMetrics()}
}

// ListenAndServe serves UDP and TCP on addr until ctx is done. ready, if
// not nil, is closed once both sockets listen.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready chan<- struct{}) error {
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("dns listen udp %s: %w", addr, err)
	}
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		udp.Close()
		return fmt.Errorf("dns listen tcp %s: %w", addr, err)
	}
	servers := []*dns.Server{{PacketConn: udp, Handler: s}, {Listener: tcp, Handler: s}}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	if ready != nil {
		close(ready)
	}
	s.cfg.Log.Info("serving cluster DNS", "addr", addr, "domain", s.cfg.Domain, "upstreams", s.cfg.Upstreams)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, srv := range servers {
		srv.Shutdown()
	}
	if err != nil {
		return fmt.Errorf("dns serve %s: %w", addr, err)
	}
	return nil
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	start := time.Now()
	resp := s.Answer(req)
	forwarded := resp == nil
	if forwarded {
		resp = s.forward(req, w.RemoteAddr().Network())
	}
	defer func() {
		s.metrics.observe(w.RemoteAddr().Network(), req.Question[0], resp, forwarded, time.Since(start))
	}()
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		resp.Truncate(udpSize(req))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.cfg.Log.Debug("write dns answer", "err", err)
	}
}

func udpSize(req *dns.Msg) int {
	if o := req.IsEdns0(); o != nil {
		return int(o.UDPSize())
	}
	return dns.MinMsgSize
}

// Answer returns the reply for a name berth is authoritative for, or nil
// when the query must be forwarded.
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	name := strings.ToLower(dns.Fqdn(q.Name))
	var rrs, extra []dns.RR
	var found bool
	switch {
	case dns.IsSubDomain(s.zone, name):
		rrs, extra, found = s.cluster(name, q.Qtype)
	case q.Qtype == dns.TypePTR && dns.IsSubDomain("in-addr.arpa.", name):
		ip, ok := fromReverse(name)
		if !ok {
			return nil
		}
		names := s.store.reverse(ip, s.cfg.Domain)
		if len(names) == 0 {
			return nil // not ours: the node's resolvers may know it
		}
		for _, n := range names {
			rrs = append(rrs, &dns.PTR{Hdr: s.hdr(q.Name, dns.TypePTR), Ptr: n})
		}
		found = true
	default:
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Answer, m.Extra = rrs, extra
	if !found {
		m.Rcode = dns.RcodeNameError
	}
	if len(rrs) == 0 {
		m.Ns = []dns.RR{s.soa()}
	}
	return m
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.cfg.TTL}
}

func (s *Server) soa() dns.RR {
	return &dns.SOA{Hdr: s.hdr(s.zone, dns.TypeSOA), Ns: "ns.dns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.cfg.TTL}
}

// cluster answers a name inside the cluster domain; found is false for
// names that do not exist (NXDOMAIN).
func (s *Server) cluster(name string, qtype uint16) (rrs, extra []dns.RR, found bool) {
	rel := strings.TrimSuffix(strings.TrimSuffix(name, s.zone), ".")
	if rel == "" || rel == "svc" || rel == "pod" {
		return nil, nil, true
	}
	labels := dns.SplitDomainName(rel)
	kind := labels[len(labels)-1]
	labels = labels[:len(labels)-1]
	switch {
	case kind == "pod" && len(labels) == 2:
		ip, ok := undashed(labels[0])
		if !ok {
			return nil, nil, false
		}
		if qtype == dns.TypeA || qtype == dns.TypeANY {
			rrs = append(rrs, &dns.A{Hdr: s.hdr(name, dns.TypeA), A: ip.AsSlice()})
		}
		return rrs, nil, true
	case kind != "svc":
		return nil, nil, false
	}
	switch len(labels) {
	case 2: // svc.ns
		svc := s.store.service(labels[1], labels[0])
		if svc == nil {
			return nil, nil, false
		}
		return s.serviceRecords(name, svc, qtype)
	case 3: // endpoint.svc.ns
		svc := s.store.service(labels[2], labels[1])
		if svc == nil {
			return nil, nil, false
		}
		for _, e := range s.store.endpoints(svc) {
			if e.name == labels[0] {
				if qtype == dns.TypeA || qtype == dns.TypeANY {
					rrs = append(rrs, s.addr(name, e.ip))
				}
				found = true
			}
		}
		return rrs, nil, found
	case 4: // _port._proto.svc.ns
		if !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return nil, nil, false
		}
		svc := s.store.service(labels[3], labels[2])
		if svc == nil {
			return nil, nil, false
		}
		rrs, extra = s.srv(name, svc, labels[0][1:], labels[1][1:])
		if len(rrs) == 0 {
			return nil, nil, false
		}
		if qtype != dns.TypeSRV && qtype != dns.TypeANY {
			return nil, nil, true
		}
		return rrs, extra, true
	}
	return nil, nil, false
}

func (s *Server) serviceRecords(name string, svc *corev1.Service, qtype uint16) (rrs, extra []dns.RR, found bool) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if qtype == dns.TypeSRV {
			return nil, nil, true
		}
		return []dns.RR{&dns.CNAME{Hdr: s.hdr(name, dns.TypeCNAME), Target: dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))}}, nil, true
	}
	if qtype == dns.TypeSRV {
		rrs, extra = s.srv(name, svc, "", "")
		return rrs, extra, true
	}
	if qtype != dns.TypeA && qtype != dns.TypeAAAA && qtype != dns.TypeANY {
		return nil, nil, true
	}
	var ips []netip.Addr
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		for _, e := range s.store.endpoints(svc) {
			ips = append(ips, e.ip)
		}
	} else {
		for _, c := range svc.Spec.ClusterIPs {
			if ip, err := netip.ParseAddr(c); err == nil {
				ips = append(ips, ip)
			}
		}
	}
	for _, ip := range ips {
		if (ip.Is4() && qtype != dns.TypeAAAA) || (ip.Is6() && qtype != dns.TypeA) {
			rrs = append(rrs, s.addr(name, ip))
		}
	}
	return rrs, nil, true
}

func (s *Server) addr(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: s.hdr(name, dns.TypeA), A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: s.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()}
}

// srv lists SRV records of svc's named ports, restricted to one port name
// and protocol when given.
func (s *Server) srv(name string, svc *corev1.Service, port, proto string) (rrs, extra []dns.RR) {
	base := svc.Name + "." + svc.Namespace + ".svc." + s.zone
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	var eps []endpoint
	if headless {
		eps = s.store.endpoints(svc)
	}
	for _, sp := range svc.Spec.Ports {
		p := strings.ToLower(string(sp.Protocol))
		if p == "" {
			p = "tcp"
		}
		if sp.Name == "" || (port != "" && sp.Name != port) || (proto != "" && p != proto) {
			continue
		}
		if !headless {
			rrs = append(rrs, &dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(sp.Port), Target: base})
			for _, c := range svc.Spec.ClusterIPs {
				if ip, err := netip.ParseAddr(c); err == nil && !containsRR(extra, base, ip) {
					extra = append(extra, s.addr(base, ip))
				}
			}
			continue
		}
		for _, e := range eps {
			for _, ep := range e.ports {
				if ep.Name == nil || *ep.Name != sp.Name || ep.Port == nil {
					continue
				}
				target := e.name + "." + base
				rrs = append(rrs, &dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(*ep.Port), Target: target})
				if !containsRR(extra, target, e.ip) {
					extra = append(extra, s.addr(target, e.ip))
				}
			}
		}
	}
	return rrs, extra
}

func containsRR(rrs []dns.RR, name string, ip netip.Addr) bool {
	return slices.ContainsFunc(rrs, func(rr dns.RR) bool {
		switch r := rr.(type) {
		case *dns.A:
			return r.Hdr.Name == name && r.A.Equal(ip.AsSlice())
		case *dns.AAAA:
			return r.Hdr.Name == name && r.AAAA.Equal(ip.AsSlice())
		}
		return false
	})
}

// fromReverse parses d.c.b.a.in-addr.arpa.
func fromReverse(name string) (netip.Addr, bool) {
	labels := dns.SplitDomainName(strings.TrimSuffix(name, "in-addr.arpa."))
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	slices.Reverse(labels)
	ip, err := netip.ParseAddr(strings.Join(labels, "."))
	return ip, err == nil && ip.Is4()
}

// forward asks the upstream resolvers in turn over the client's transport.
func (s *Server) forward(req *dns.Msg, network string) *dns.Msg {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.Exchange(req, up)
		if err == nil {
			return resp
		}
		s.cfg.Log.Debug("forward failed", "upstream", up, "err", err)
	}
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	return m
}

// Upstreams reads the nameservers of a resolv.conf, leaving out those
// that would loop back to the cluster DNS itself.
func Upstreams(resolvConf string, self ...string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", resolvConf, err)
	}
	var out []string
	for _, s := range cc.Servers {
		if slices.Contains(self, s) {
			continue
		}
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}
