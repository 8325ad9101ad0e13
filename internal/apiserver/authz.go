package apiserver

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
)

// nodeWritable are the resources a node identity may write (the kubelet's
// own Node and Lease, its pods' status, mirror pods, events), like
// upstream's Node authorizer without the per-object graph.
var nodeWritable = map[string]bool{
	"nodes": true, "nodes/status": true, "leases": true, "events": true,
	"pods": true, "pods/status": true,
	// serveToken lets a node ask only for tokens bound to its own pods.
	"serviceaccounts/token": true,
}

// nodeReadable are what a node's kubelet, service proxy and DNS read.
var nodeReadable = map[string]bool{
	"nodes": true, "pods": true, "services": true, "endpoints": true, "endpointslices": true,
	"configmaps": true, "secrets": true, "persistentvolumes": true, "persistentvolumeclaims": true,
	"namespaces": true, "serviceaccounts": true, "leases": true, "events": true,
	"storageclasses": true, "networkpolicies": true, "runtimeclasses": true,
}

// authorize lets system:masters do everything and node identities what a
// node needs; everyone else gets what RBAC grants (nothing when rb is nil).
func authorize(rq *request, rb *rbac.Authorizer) error {
	u := rq.user
	if u == nil {
		return errUnauthorized()
	}
	ctx := context.Background()
	if rq.r != nil {
		ctx = rq.r.Context()
	}
	ok, err := allowed(ctx, u, &rbac.Request{User: u.Name, Groups: u.Groups, Verb: rq.verb,
		APIGroup: rq.kind.GVK.Group, Resource: rq.kind.Resource, Subresource: rq.sub, Namespace: rq.namespace, Name: rq.name}, rb)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if !ok {
		return forbidden(u, rq)
	}
	return nil
}

// allowed decides a for u: the one place requests and access reviews
// are authorized.
func allowed(ctx context.Context, u *auth.User, a *rbac.Request, rb *rbac.Authorizer) (bool, error) {
	switch {
	case u.IsMaster():
		return true, nil
	case u.NodeName() != "":
		return nodeAllowed(u.NodeName(), a), nil
	case rb == nil:
		return false, nil
	}
	return rb.Allows(ctx, a)
}

func nodeAllowed(node string, a *rbac.Request) bool {
	if a.NonResourceURL != "" {
		return false
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	switch a.Verb {
	case "get", "list", "watch":
		return nodeReadable[res] || nodeWritable[res]
	case "create", "update", "patch", "delete":
		// A node changes only its own Node object (upstream's NodeRestriction).
		if a.Resource == "nodes" && a.Name != "" && a.Name != node {
			return false
		}
		return nodeWritable[res]
	}
	return false
}

func forbidden(u *auth.User, rq *request) error {
	res := rq.kind.Resource
	if rq.sub != "" {
		res += "/" + rq.sub
	}
	where := ""
	if rq.namespace != "" {
		where = fmt.Sprintf(" in the namespace %q", rq.namespace)
	}
	return apierrors.NewForbidden(gr(rq.kind), rq.name, fmt.Errorf("User %q cannot %s resource %q in API group %q%s",
		u.Name, rq.verb, res, rq.kind.GVK.Group, where))
}
