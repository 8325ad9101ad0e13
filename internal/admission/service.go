package admission

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service ClusterIP and NodePort allocation: what upstream's service REST
// storage does around create, update and delete
// (pkg/registry/core/service/storage/alloc.go).

var serviceKind = schema.GroupKind{Kind: "Service"}

// owner names the Service a claim belongs to.
func owner(svc *corev1.Service) string {
	return svc.Namespace + "/" + svc.Name + "/" + string(svc.UID)
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// nodePorts is the set of NodePorts a Service holds.
func nodePorts(svc *corev1.Service) map[int32]bool {
	set := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			set[p.NodePort] = true
		}
	}
	return set
}

// heldIP is the ClusterIP a Service holds a claim for, or "".
func heldIP(svc *corev1.Service) string {
	if !needsClusterIP(svc) {
		return ""
	}
	return svc.Spec.ClusterIP
}

// reservation collects the claims one Admit made, to undo them if a later
// step fails.
type reservation struct {
	p    *Plugins
	keys []string
}

func (r *reservation) undo(ctx context.Context) {
	for _, k := range r.keys {
		if err := r.p.claims.Unclaim(ctx, k); err != nil {
			r.p.log.Warn("release claim after failed admission", "key", k, "err", err)
		}
	}
}

func (p *Plugins) allocateService(ctx context.Context, a *Attributes) (retErr error) {
	svc := a.Object.(*corev1.Service)
	var old *corev1.Service
	if a.Operation == Update {
		old = a.OldObject.(*corev1.Service)
		keepAllocations(svc, old)
	}
	res := &reservation{p: p}
	defer func() {
		if retErr != nil {
			res.undo(ctx)
		}
	}()
	who := owner(svc)
	if needsClusterIP(svc) && (old == nil || heldIP(old) == "") {
		if err := p.allocateClusterIP(ctx, svc, who, res); err != nil {
			return err
		}
	}
	if needsNodePorts(svc) {
		held := map[int32]bool{}
		if old != nil {
			held = nodePorts(old)
		}
		for i := range svc.Spec.Ports {
			if err := p.allocateNodePort(ctx, svc, i, held, who, res); err != nil {
				return err
			}
		}
	}
	if old != nil {
		// What the update gives up is free for others once it is stored;
		// Release takes it back if the update fails.
		p.unclaimAll(ctx, freedBy(svc, old), owner(old))
	}
	return nil
}

// keepAllocations is upstream's patchAllocatedValues and
// dropTypeDependentFields: an update that omits the ClusterIP or NodePorts
// keeps them, and a type change drops what the new type cannot hold.
func keepAllocations(svc, old *corev1.Service) {
	if needsClusterIP(old) && svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName &&
		svc.Spec.ClusterIP == old.Spec.ClusterIP {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
	}
	// Fields of the old type the new one cannot have, unless the client
	// changed them on purpose.
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer &&
		reflect.DeepEqual(svc.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
	if needsExternalPolicy(old) && !needsExternalPolicy(svc) && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	oldPorts := old.Spec.Ports
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		match := matchingPort(oldPorts, *sp)
		switch {
		case needsNodePorts(old) && needsNodePorts(svc) && sp.NodePort == 0 && match != nil:
			sp.NodePort = match.NodePort
		case needsNodePorts(old) && !needsNodePorts(svc) && match != nil && sp.NodePort == match.NodePort:
			sp.NodePort = 0
		}
	}
}

func needsExternalPolicy(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// matchingPort finds p's counterpart in ports: by name, or the only port.
func matchingPort(ports []corev1.ServicePort, p corev1.ServicePort) *corev1.ServicePort {
	for i := range ports {
		if ports[i].Name == p.Name && (p.Name != "" || len(ports) == 1) {
			return &ports[i]
		}
	}
	return nil
}

func (p *Plugins) allocateClusterIP(ctx context.Context, svc *corev1.Service, who string, res *reservation) error {
	if svc.Spec.ClusterIP == "" {
		ip, err := p.ips.allocateNext(ctx, who)
		if errors.Is(err, errRangeFull) {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %v", err))
		}
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		res.keys = append(res.keys, serviceIPPrefix+ip)
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
		return nil
	}
	ip := svc.Spec.ClusterIP
	err := p.ips.allocate(ctx, ip, who)
	var notInRange *errNotInRange
	switch {
	case err == nil:
		res.keys = append(res.keys, serviceIPPrefix+ip)
		return nil
	case errors.Is(err, errIPAllocated):
		if p.heldBySameName(ctx, serviceIPPrefix+ip, svc) {
			return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "services"}, svc.Name)
		}
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"),
			svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %v: %v", ip, err))})
	case errors.As(err, &notInRange):
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"),
			svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %v: %v", ip, err))})
	}
	return apierrors.NewInternalError(err)
}

// allocateNodePort gives port i a NodePort unless it has one held already
// (by the old object, or by another port of this Service: TCP and UDP may
// share a number).
func (p *Plugins) allocateNodePort(ctx context.Context, svc *corev1.Service, i int, held map[int32]bool, who string, res *reservation) error {
	sp := &svc.Spec.Ports[i]
	if sp.NodePort != 0 && held[sp.NodePort] {
		return nil
	}
	if sp.NodePort == 0 {
		port, err := p.ports.allocateNext(ctx, who)
		if errors.Is(err, errRangeFull) {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %v", err))
		}
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		res.keys = append(res.keys, portKey(port))
		sp.NodePort = port
		held[port] = true
		return nil
	}
	if err := p.ports.allocate(ctx, sp.NodePort, who); err != nil {
		if errors.Is(err, errPortAllocated) && p.heldBySameName(ctx, portKey(sp.NodePort), svc) {
			return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "services"}, svc.Name)
		}
		if errors.Is(err, errPortAllocated) || int(sp.NodePort) < p.ports.r.First || int(sp.NodePort) > p.ports.r.Last {
			return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(
				field.NewPath("spec", "ports").Index(i).Child("nodePort"), sp.NodePort, err.Error())})
		}
		return apierrors.NewInternalError(err)
	}
	res.keys = append(res.keys, portKey(sp.NodePort))
	held[sp.NodePort] = true
	return nil
}

// heldBySameName reports whether key is held by a Service of svc's
// namespace and name: creating a Service again with its own ClusterIP or
// NodePort is "already exists", as the client means it, not a conflict.
func (p *Plugins) heldBySameName(ctx context.Context, key string, svc *corev1.Service) bool {
	owners, err := p.claims.List(ctx, key)
	return err == nil && strings.HasPrefix(owners[key], svc.Namespace+"/"+svc.Name+"/")
}

// claimKeys lists the claim keys a Service holds.
func claimKeys(svc *corev1.Service) map[string]bool {
	keys := map[string]bool{}
	if ip := heldIP(svc); ip != "" {
		keys[serviceIPPrefix+ip] = true
	}
	for port := range nodePorts(svc) {
		keys[portKey(port)] = true
	}
	return keys
}

// freedBy lists the claims old holds that svc no longer does.
func freedBy(svc, old *corev1.Service) []string {
	now := claimKeys(svc)
	var out []string
	for k := range claimKeys(old) {
		if !now[k] {
			out = append(out, k)
		}
	}
	return out
}

// unclaimAll frees keys still owned by who; a key someone else has claimed
// since is left alone.
func (p *Plugins) unclaimAll(ctx context.Context, keys []string, who string) {
	for _, k := range keys {
		owners, err := p.claims.List(ctx, k)
		if err != nil {
			p.log.Warn("read claim", "key", k, "err", err)
			continue
		}
		if owners[k] != who {
			continue
		}
		if err := p.claims.Unclaim(ctx, k); err != nil {
			p.log.Warn("release claim", "key", k, "err", err)
		}
	}
}

func (p *Plugins) releaseService(ctx context.Context, a *Attributes) {
	switch a.Operation {
	case Create:
		svc := a.Object.(*corev1.Service)
		p.unclaimAll(ctx, keysOf(claimKeys(svc)), owner(svc))
	case Delete:
		old := a.OldObject.(*corev1.Service)
		p.unclaimAll(ctx, keysOf(claimKeys(old)), owner(old))
	case Update:
		svc, old := a.Object.(*corev1.Service), a.OldObject.(*corev1.Service)
		p.unclaimAll(ctx, freedBy(old, svc), owner(svc))
		// Take back what Admit gave up; if someone took it meanwhile, the
		// stored object keeps a stale value until it is next updated.
		for _, k := range freedBy(svc, old) {
			if ok, err := p.claims.Claim(ctx, k, owner(old)); err != nil || !ok {
				p.log.Warn("reclaim after failed service update", "key", k, "err", err)
			}
		}
	}
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
