package apiserver

import (
	"net/http"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Extension is an API group served by a handler of its own rather than
// from kinds and storage, as upstream serves aggregated APIs (metrics.k8s.io
// from metrics-server). The API server authenticates and authorizes requests
// before they reach Handler, and lists the group in discovery.
type Extension struct {
	// Prefix is /apis/<group>; Handler serves it and everything under it,
	// including the group's own legacy discovery documents.
	Prefix     string
	Handler    http.Handler
	Aggregated apidiscoveryv2.APIGroupDiscovery
	Legacy     *metav1.APIGroup
}

// addExtensions lists each extension's group in the /apis documents and
// routes its prefix to its handler.
func (s *Server) addExtensions(exts []Extension) {
	for _, e := range exts {
		s.disc.groups.Items = append(s.disc.groups.Items, e.Aggregated)
		listed := *e.Legacy
		listed.TypeMeta = metav1.TypeMeta{}
		s.disc.groupList.Groups = append(s.disc.groupList.Groups, listed)
		h := s.authorizeExtension(e.Handler)
		s.mux.Handle(e.Prefix, h)
		s.mux.Handle(e.Prefix+"/", h)
	}
}
