package apiserver

import (
	"net/http"
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// aggregatedContentType is what client-go checks (on the response, not the
// body) to decode aggregated discovery.
const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// discovery holds every discovery document, built once from kinds.All().
type discovery struct {
	core         *apidiscoveryv2.APIGroupDiscoveryList // /api, aggregated
	groups       *apidiscoveryv2.APIGroupDiscoveryList // /apis, aggregated
	groupList    *metav1.APIGroupList
	groupByName  map[string]*metav1.APIGroup
	resourceList map[schema.GroupVersion]*metav1.APIResourceList
}

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// subresourceInfo is each subresource's verbs and response kind, as upstream serves them.
var subresourceInfo = map[string]struct {
	verbs []string
	kind  schema.GroupVersionKind // empty Kind: the parent's
}{
	"status":      {[]string{"get", "patch", "update"}, schema.GroupVersionKind{}},
	"scale":       {[]string{"get", "patch", "update"}, scaleGVK},
	"binding":     {[]string{"create"}, schema.GroupVersionKind{Version: "v1", Kind: "Binding"}},
	"eviction":    {[]string{"create"}, schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}},
	"log":         {[]string{"get"}, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
	"exec":        {[]string{"create", "get"}, schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}},
	"attach":      {[]string{"create", "get"}, schema.GroupVersionKind{Version: "v1", Kind: "PodAttachOptions"}},
	"portforward": {[]string{"create", "get"}, schema.GroupVersionKind{Version: "v1", Kind: "PodPortForwardOptions"}},
	"proxy":       {[]string{"create", "delete", "get", "patch", "update"}, schema.GroupVersionKind{Version: "v1", Kind: "NodeProxyOptions"}},
	"finalize":    {[]string{"update"}, schema.GroupVersionKind{}},
	"token":       {[]string{"create"}, tokenRequestGVK},
}

func buildDiscovery(all []*kinds.Kind) *discovery {
	d := &discovery{
		core:         &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}},
		groups:       &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}},
		groupList:    &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}},
		groupByName:  map[string]*metav1.APIGroup{},
		resourceList: map[schema.GroupVersion]*metav1.APIResourceList{},
	}
	// Groups and versions in first-seen order: the first version is preferred.
	var groupOrder []string
	versions := map[string][]string{}
	for _, k := range all {
		g, v := k.GVK.Group, k.GVK.Version
		if _, ok := versions[g]; !ok {
			groupOrder = append(groupOrder, g)
		}
		if !slices.Contains(versions[g], v) {
			versions[g] = append(versions[g], v)
		}
	}
	for _, g := range groupOrder {
		agg := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
		for _, v := range versions[g] {
			gv := schema.GroupVersion{Group: g, Version: v}
			rl := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
			av := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, k := range all {
				if k.GVK.GroupVersion() != gv {
					continue
				}
				rl.APIResources = append(rl.APIResources, legacyResources(k)...)
				av.Resources = append(av.Resources, aggregatedResource(k))
			}
			d.resourceList[gv] = rl
			agg.Versions = append(agg.Versions, av)
		}
		if g == "" {
			d.core.Items = append(d.core.Items, agg)
			continue
		}
		d.groups.Items = append(d.groups.Items, agg)
		ag := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g}
		for _, v := range versions[g] {
			ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
		}
		ag.PreferredVersion = ag.Versions[0]
		d.groupByName[g] = &ag
		listed := ag
		listed.TypeMeta = metav1.TypeMeta{}
		d.groupList.Groups = append(d.groupList.Groups, listed)
	}
	return d
}

func scopeOf(k *kinds.Kind) apidiscoveryv2.ResourceScope {
	if k.Namespaced {
		return apidiscoveryv2.ScopeNamespace
	}
	return apidiscoveryv2.ScopeCluster
}

func subKind(k *kinds.Kind, sub string) schema.GroupVersionKind {
	if info := subresourceInfo[sub]; info.kind.Kind != "" {
		return info.kind
	}
	return k.GVK
}

func aggregatedResource(k *kinds.Kind) apidiscoveryv2.APIResourceDiscovery {
	gvk := k.GVK
	r := apidiscoveryv2.APIResourceDiscovery{
		Resource:         k.Resource,
		ResponseKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Scope:            scopeOf(k),
		SingularResource: k.Singular,
		Verbs:            allVerbs,
		ShortNames:       k.ShortNames,
		Categories:       k.Categories,
	}
	for _, sub := range k.Subresources {
		sk := subKind(k, sub)
		r.Subresources = append(r.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub,
			ResponseKind: &metav1.GroupVersionKind{Group: sk.Group, Version: sk.Version, Kind: sk.Kind},
			Verbs:        subresourceInfo[sub].verbs,
		})
	}
	return r
}

func legacyResources(k *kinds.Kind) []metav1.APIResource {
	out := []metav1.APIResource{{
		Name: k.Resource, SingularName: k.Singular, Namespaced: k.Namespaced, Kind: k.GVK.Kind,
		Verbs: allVerbs, ShortNames: k.ShortNames, Categories: k.Categories,
	}}
	for _, sub := range k.Subresources {
		sk := subKind(k, sub)
		r := metav1.APIResource{Name: k.Resource + "/" + sub, Namespaced: k.Namespaced, Kind: sk.Kind, Verbs: subresourceInfo[sub].verbs}
		if sk.Group != k.GVK.Group || sk.Version != k.GVK.Version {
			r.Group, r.Version = sk.Group, sk.Version
		}
		out = append(out, r)
	}
	return out
}

func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if strings.Contains(part, "as=APIGroupDiscoveryList") && strings.Contains(part, "v=v2") && !strings.Contains(part, "v=v2beta1") {
			return true
		}
	}
	return false
}

// serveDiscovery answers /api, /apis, /api/v1, /apis/G and /apis/G/V; it
// reports false for any other path.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	d := s.disc
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == "/api":
		if wantsAggregated(r) {
			writeAggregated(w, d.core)
		} else {
			writeJSON(w, http.StatusOK, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
				ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}})
		}
	case p == "/apis":
		if wantsAggregated(r) {
			writeAggregated(w, d.groups)
		} else {
			writeJSON(w, http.StatusOK, d.groupList)
		}
	case p == "/api/v1":
		writeJSON(w, http.StatusOK, d.resourceList[schema.GroupVersion{Version: "v1"}])
	case strings.HasPrefix(p, "/apis/"):
		parts := strings.Split(strings.TrimPrefix(p, "/apis/"), "/")
		switch len(parts) {
		case 1:
			g, ok := d.groupByName[parts[0]]
			if !ok {
				return false
			}
			writeJSON(w, http.StatusOK, g)
		case 2:
			rl, ok := d.resourceList[schema.GroupVersion{Group: parts[0], Version: parts[1]}]
			if !ok {
				return false
			}
			writeJSON(w, http.StatusOK, rl)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

func writeAggregated(w http.ResponseWriter, l *apidiscoveryv2.APIGroupDiscoveryList) {
	data, err := encodeJSON(l)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", aggregatedContentType)
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
