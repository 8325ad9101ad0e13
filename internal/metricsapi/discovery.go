package metricsapi

import (
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// The discovery documents the API server lists for metrics.k8s.io: two
// read-only resources, as metrics-server registers them.

var verbs = []string{"get", "list"}

// AggregatedDiscovery is the group's entry in the aggregated /apis answer
// (apidiscovery.k8s.io/v2 APIGroupDiscoveryList items).
func AggregatedDiscovery() apidiscoveryv2.APIGroupDiscovery {
	kind := func(k string) *metav1.GroupVersionKind {
		return &metav1.GroupVersionKind{Group: v1beta1.GroupName, Version: v1beta1.Version, Kind: k}
	}
	return apidiscoveryv2.APIGroupDiscovery{
		ObjectMeta: metav1.ObjectMeta{Name: v1beta1.GroupName},
		Versions: []apidiscoveryv2.APIVersionDiscovery{{
			Version:   v1beta1.Version,
			Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
			Resources: []apidiscoveryv2.APIResourceDiscovery{
				{Resource: "nodes", ResponseKind: kind("NodeMetrics"), Scope: apidiscoveryv2.ScopeCluster, SingularResource: "nodemetrics", Verbs: verbs},
				{Resource: "pods", ResponseKind: kind("PodMetrics"), Scope: apidiscoveryv2.ScopeNamespace, SingularResource: "podmetrics", Verbs: verbs},
			},
		}},
	}
}

// LegacyGroup is the group's entry in the legacy /apis answer
// (APIGroupList.groups); GET Prefix answers it with its TypeMeta set.
func LegacyGroup() *metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: v1beta1.SchemeGroupVersion.String(), Version: v1beta1.Version}
	return &metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             v1beta1.GroupName,
		Versions:         []metav1.GroupVersionForDiscovery{gv},
		PreferredVersion: gv,
	}
}

// ResourceList is GET Prefix/v1beta1, the legacy per-version document.
func ResourceList() *metav1.APIResourceList {
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: v1beta1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{
			{Name: "nodes", SingularName: "nodemetrics", Namespaced: false, Kind: "NodeMetrics", Verbs: verbs},
			{Name: "pods", SingularName: "podmetrics", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
		},
	}
}
