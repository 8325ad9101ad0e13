package admission

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
)

// Claim keys: one etcd key per allocated ClusterIP or NodePort, so two API
// servers never hand out the same one (upstream keeps bitmaps under
// /registry/ranges/serviceips and /registry/ranges/servicenodeports).
const (
	serviceIPPrefix = "/registry/ranges/serviceips/"
	nodePortPrefix  = "/registry/ranges/servicenodeports/"
)

// Allocation errors, worded as upstream's ipallocator and portallocator.
var (
	errIPAllocated   = errors.New("provided IP is already allocated")
	errPortAllocated = errors.New("provided port is already allocated")
	errRangeFull     = errors.New("range is full")
)

// randomTries is how many random picks are tried before scanning the
// claimed set: with a sparse range the first pick nearly always wins.
const randomTries = 8

// ipAllocator hands out ClusterIPs from an IPv4 service CIDR.
type ipAllocator struct {
	claims Claims
	cidr   netip.Prefix
	base   uint32 // the network address
	// max is the last usable offset (the broadcast address is excluded,
	// as is offset 0, the network address).
	max uint32
	// band is upstream's "static" lower band (min(max(16, size/16), 256)),
	// left to clients that ask for a specific IP; dynamic allocation takes
	// it only when the upper part is full. Offset 1 (the kubernetes
	// service) is never handed out dynamically.
	band uint32
}

func newIPAllocator(claims Claims, cidr netip.Prefix) (*ipAllocator, error) {
	cidr = cidr.Masked()
	if !cidr.Addr().Is4() {
		return nil, fmt.Errorf("admission: service CIDR %s: only IPv4 is supported", cidr)
	}
	bits := 32 - cidr.Bits()
	if bits < 2 {
		return nil, fmt.Errorf("admission: service CIDR %s is too small", cidr)
	}
	size := uint64(1) << bits
	a4 := cidr.Addr().As4()
	band := min(max(16, size/16), 256)
	return &ipAllocator{claims: claims, cidr: cidr, base: binary.BigEndian.Uint32(a4[:]), max: uint32(size - 2), band: uint32(band)}, nil
}

func (a *ipAllocator) addr(offset uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a.base+offset)
	return netip.AddrFrom4(b)
}

// errNotInRange is upstream's ErrNotInRange for IPs.
type errNotInRange struct{ ip, valid string }

func (e *errNotInRange) Error() string {
	return fmt.Sprintf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", e.ip, e.valid)
}

// allocate claims a requested IP for owner.
func (a *ipAllocator) allocate(ctx context.Context, ip, owner string) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !a.cidr.Contains(addr) || addr == a.addr(0) || addr == a.addr(a.max+1) {
		return &errNotInRange{ip: ip, valid: a.cidr.String()}
	}
	ok, err := a.claims.Claim(ctx, serviceIPPrefix+ip, owner)
	if err != nil {
		return fmt.Errorf("claim %s: %w", ip, err)
	}
	if !ok {
		return errIPAllocated
	}
	return nil
}

// allocateNext claims a free IP, preferring the upper band.
func (a *ipAllocator) allocateNext(ctx context.Context, owner string) (string, error) {
	lo := a.band + 1
	if lo > a.max {
		lo = 2
	}
	for range randomTries {
		ip := a.addr(lo + rand.Uint32N(a.max-lo+1)).String()
		ok, err := a.claims.Claim(ctx, serviceIPPrefix+ip, owner)
		if err != nil {
			return "", fmt.Errorf("claim %s: %w", ip, err)
		}
		if ok {
			return ip, nil
		}
	}
	// Dense range: scan what is free, upper band first, from a random start.
	taken, err := a.claims.List(ctx, serviceIPPrefix)
	if err != nil {
		return "", fmt.Errorf("list allocated service IPs: %w", err)
	}
	for _, span := range [][2]uint32{{lo, a.max}, {2, lo - 1}} {
		if span[0] > span[1] {
			continue
		}
		n := span[1] - span[0] + 1
		start := rand.Uint32N(n)
		for i := range n {
			ip := a.addr(span[0] + (start+i)%n).String()
			if _, used := taken[serviceIPPrefix+ip]; used {
				continue
			}
			ok, err := a.claims.Claim(ctx, serviceIPPrefix+ip, owner)
			if err != nil {
				return "", fmt.Errorf("claim %s: %w", ip, err)
			}
			if ok {
				return ip, nil
			}
		}
	}
	return "", errRangeFull
}

// portAllocator hands out NodePorts.
type portAllocator struct {
	claims Claims
	r      PortRange
}

func portKey(port int32) string { return nodePortPrefix + strconv.Itoa(int(port)) }

// allocate claims a requested port for owner.
func (a *portAllocator) allocate(ctx context.Context, port int32, owner string) error {
	if int(port) < a.r.First || int(port) > a.r.Last {
		return fmt.Errorf("provided port is not in the valid range. The range of valid ports is %s", a.r)
	}
	ok, err := a.claims.Claim(ctx, portKey(port), owner)
	if err != nil {
		return fmt.Errorf("claim port %d: %w", port, err)
	}
	if !ok {
		return errPortAllocated
	}
	return nil
}

// allocateNext claims a free port.
func (a *portAllocator) allocateNext(ctx context.Context, owner string) (int32, error) {
	n := a.r.Last - a.r.First + 1
	for range randomTries {
		port := int32(a.r.First + rand.IntN(n))
		ok, err := a.claims.Claim(ctx, portKey(port), owner)
		if err != nil {
			return 0, fmt.Errorf("claim port %d: %w", port, err)
		}
		if ok {
			return port, nil
		}
	}
	taken, err := a.claims.List(ctx, nodePortPrefix)
	if err != nil {
		return 0, fmt.Errorf("list allocated node ports: %w", err)
	}
	start := rand.IntN(n)
	for i := range n {
		port := int32(a.r.First + (start+i)%n)
		if _, used := taken[portKey(port)]; used {
			continue
		}
		ok, err := a.claims.Claim(ctx, portKey(port), owner)
		if err != nil {
			return 0, fmt.Errorf("claim port %d: %w", port, err)
		}
		if ok {
			return port, nil
		}
	}
	return 0, errRangeFull
}
