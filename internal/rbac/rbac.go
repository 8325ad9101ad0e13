// Package rbac evaluates rbac.authorization.k8s.io/v1 Roles, ClusterRoles,
// RoleBindings and ClusterRoleBindings the way upstream's RBAC authorizer
// does (plugin/pkg/auth/authorizer/rbac): a request is allowed when a rule
// of a role bound to the user, one of its groups or its service account
// covers it; there are no deny rules. aggregationRule is not evaluated:
// the bootstrap roles carry their rules themselves.
package rbac

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Request is what one API request asks to do.
type Request struct {
	User   string
	Groups []string
	Verb   string
	// Resource requests name a resource; others a NonResourceURL path.
	Resource, Subresource, APIGroup, Namespace, Name string
	NonResourceURL                                   string
}

// Policy is a snapshot of the cluster's RBAC objects.
type Policy struct {
	Roles               map[string]*rbacv1.Role // by namespace/name
	ClusterRoles        map[string]*rbacv1.ClusterRole
	RoleBindings        []*rbacv1.RoleBinding
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
}

// Allows reports whether a rule bound to r's user covers r.
func (p *Policy) Allows(r *Request) bool {
	for _, b := range p.ClusterRoleBindings {
		if b.RoleRef.Kind == "ClusterRole" && boundTo(b.Subjects, r, "") && rulesAllow(p.clusterRules(b.RoleRef.Name), r) {
			return true
		}
	}
	if r.Namespace == "" || r.NonResourceURL != "" {
		return false
	}
	for _, b := range p.RoleBindings {
		if b.Namespace != r.Namespace || !boundTo(b.Subjects, r, b.Namespace) {
			continue
		}
		var rules []rbacv1.PolicyRule
		switch b.RoleRef.Kind {
		case "ClusterRole":
			rules = p.clusterRules(b.RoleRef.Name)
		case "Role":
			if role := p.Roles[b.Namespace+"/"+b.RoleRef.Name]; role != nil {
				rules = role.Rules
			}
		}
		if rulesAllow(rules, r) {
			return true
		}
	}
	return false
}

func (p *Policy) clusterRules(name string) []rbacv1.PolicyRule {
	if cr := p.ClusterRoles[name]; cr != nil {
		return cr.Rules
	}
	return nil
}

// boundTo reports whether one of subjects is r's user, one of its groups
// or its service account; a ServiceAccount subject without a namespace
// means the binding's own (upstream's RoleBinding defaulting).
func boundTo(subjects []rbacv1.Subject, r *Request, bindingNS string) bool {
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			if s.Name == r.User {
				return true
			}
		case rbacv1.GroupKind:
			for _, g := range r.Groups {
				if g == s.Name {
					return true
				}
			}
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = bindingNS
			}
			if ns != "" && r.User == "system:serviceaccount:"+ns+":"+s.Name {
				return true
			}
		}
	}
	return false
}

func rulesAllow(rules []rbacv1.PolicyRule, r *Request) bool {
	for i := range rules {
		if ruleAllows(&rules[i], r) {
			return true
		}
	}
	return false
}

func ruleAllows(rule *rbacv1.PolicyRule, r *Request) bool {
	if !has(rule.Verbs, r.Verb) {
		return false
	}
	if r.NonResourceURL != "" {
		for _, u := range rule.NonResourceURLs {
			if u == "*" || u == r.NonResourceURL || (strings.HasSuffix(u, "*") && strings.HasPrefix(r.NonResourceURL, strings.TrimSuffix(u, "*"))) {
				return true
			}
		}
		return false
	}
	if !has(rule.APIGroups, r.APIGroup) || !resourceMatches(rule.Resources, r.Resource, r.Subresource) {
		return false
	}
	return len(rule.ResourceNames) == 0 || (r.Name != "" && contains(rule.ResourceNames, r.Name))
}

// resourceMatches follows upstream's ResourceMatches: "*" is every
// resource and subresource, "pods/log" one subresource, "*/scale" a
// subresource of every resource.
func resourceMatches(ruleResources []string, resource, sub string) bool {
	want := resource
	if sub != "" {
		want += "/" + sub
	}
	for _, rr := range ruleResources {
		if rr == rbacv1.ResourceAll || rr == want || (sub != "" && rr == "*/"+sub) {
			return true
		}
	}
	return false
}

// has is contains with "*" matching anything.
func has(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Authorizer answers from a Policy it reloads at most once per TTL, so a
// change to a binding takes effect within TTL on every server of an HA
// cluster, and a burst of requests costs one read of the RBAC objects.
type Authorizer struct {
	load func(ctx context.Context) (*Policy, error)
	ttl  time.Duration
	now  func() time.Time

	mu     sync.Mutex
	policy *Policy
	loaded time.Time
}

// NewAuthorizer returns an Authorizer reading the policy with load.
func NewAuthorizer(load func(ctx context.Context) (*Policy, error), ttl time.Duration) *Authorizer {
	return &Authorizer{load: load, ttl: ttl, now: time.Now}
}

// Allows reports whether r is allowed.
func (a *Authorizer) Allows(ctx context.Context, r *Request) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.policy == nil || a.now().Sub(a.loaded) >= a.ttl {
		p, err := a.load(ctx)
		if err != nil {
			return false, fmt.Errorf("load RBAC policy: %w", err)
		}
		a.policy, a.loaded = p, a.now()
	}
	return a.policy.Allows(r), nil
}
