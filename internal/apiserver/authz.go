package apiserver

import (
	"context"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
	a := &rbac.Request{User: u.Name, Groups: u.Groups, Verb: rq.verb,
		APIGroup: rq.kind.GVK.Group, Resource: rq.kind.Resource, Subresource: rq.sub, Namespace: rq.namespace, Name: rq.name}
	ok, err := allowed(ctx, u, a, rb)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if !ok {
		return forbidden(u, a)
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

// forbidden is upstream's 403 for a denied request.
func forbidden(u *auth.User, a *rbac.Request) error {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	where := ""
	if a.Namespace != "" {
		where = fmt.Sprintf(" in the namespace %q", a.Namespace)
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, fmt.Errorf("User %q cannot %s resource %q in API group %q%s",
		u.Name, a.Verb, res, a.APIGroup, where))
}

// authorizeExtension authorizes requests for an extension's resources
// (metrics.k8s.io pods and nodes) as requests for berth's own are; its
// discovery documents are open to every authenticated caller.
func (s *Server) authorizeExtension(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gv, rest, ok := splitAPIPath(r.URL.Path)
		if ok && rest != "" {
			ns, resource, name, sub, ok := parseResourcePath(rest)
			if !ok {
				writeError(w, errNoResource())
				return
			}
			u := userFrom(r.Context())
			if u == nil {
				writeError(w, errUnauthorized())
				return
			}
			a := &rbac.Request{User: u.Name, Groups: u.Groups, Verb: verbFor(r.Method, name, isWatch(r.URL.Query())),
				APIGroup: gv.Group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
			allow, err := allowed(r.Context(), u, a, s.cfg.RBAC)
			if err != nil {
				writeError(w, apierrors.NewInternalError(err))
				return
			}
			if !allow {
				writeError(w, forbidden(u, a))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
