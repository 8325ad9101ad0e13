package apiserver

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

func TestDiscovery(t *testing.T) {
	s := &Server{disc: buildDiscovery(kinds.All())}
	get := func(path, accept string) (*httptest.ResponseRecorder, bool) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		return w, s.serveDiscovery(w, r)
	}

	// What kubectl sends: aggregated first, recognised by the response Content-Type.
	w, ok := get("/api", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
	if !ok || w.Header().Get("Content-Type") != aggregatedContentType {
		t.Fatalf("/api aggregated: served=%v Content-Type %q", ok, w.Header().Get("Content-Type"))
	}
	var core apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(w.Body.Bytes(), &core); err != nil || len(core.Items) != 1 {
		t.Fatalf("/api: %v %s", err, w.Body.String())
	}
	var pods *apidiscoveryv2.APIResourceDiscovery
	for i, r := range core.Items[0].Versions[0].Resources {
		if r.Resource == "pods" {
			pods = &core.Items[0].Versions[0].Resources[i]
		}
	}
	if pods == nil || pods.SingularResource != "pod" || !slices.Contains(pods.ShortNames, "po") || !slices.Contains(pods.Categories, "all") ||
		pods.Scope != apidiscoveryv2.ScopeNamespace || pods.ResponseKind.Kind != "Pod" {
		t.Fatalf("pods entry %+v", pods)
	}
	subs := map[string]string{}
	for _, sr := range pods.Subresources {
		subs[sr.Subresource] = sr.ResponseKind.Kind
	}
	if subs["status"] != "Pod" || subs["binding"] != "Binding" || subs["eviction"] != "Eviction" || subs["exec"] != "PodExecOptions" {
		t.Errorf("pods subresources %v", subs)
	}

	w, _ = get("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	var groups apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(w.Body.Bytes(), &groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Items {
		if g.Name == "autoscaling" && g.Versions[0].Version != "v2" {
			t.Errorf("autoscaling prefers %s, want v2 first", g.Versions[0].Version)
		}
	}

	// Legacy discovery, for clients that do not ask for the aggregated form.
	w, _ = get("/apis", "application/json")
	var gl metav1.APIGroupList
	if err := json.Unmarshal(w.Body.Bytes(), &gl); err != nil || w.Header().Get("Content-Type") != "application/json" || len(gl.Groups) == 0 {
		t.Fatalf("/apis legacy: %v %q", err, w.Header().Get("Content-Type"))
	}
	w, _ = get("/api/v1", "application/json")
	var rl metav1.APIResourceList
	if err := json.Unmarshal(w.Body.Bytes(), &rl); err != nil {
		t.Fatal(err)
	}
	names := map[string]metav1.APIResource{}
	for _, r := range rl.APIResources {
		names[r.Name] = r
	}
	if _, ok := names["pods/status"]; !ok || !slices.Contains(names["pods"].Verbs, "watch") || names["namespaces"].Namespaced {
		t.Errorf("/api/v1 resources %v", rl.APIResources)
	}
	if sc := names["replicationcontrollers/scale"]; sc.Group != "autoscaling" || sc.Kind != "Scale" {
		t.Errorf("replicationcontrollers/scale = %+v, want autoscaling Scale", sc)
	}
	if _, ok := get("/apis/apps/v1", ""); !ok {
		t.Error("/apis/apps/v1 not served")
	}
	if _, ok := get("/apis/nope/v1", ""); ok {
		t.Error("/apis/nope/v1 served")
	}
}
