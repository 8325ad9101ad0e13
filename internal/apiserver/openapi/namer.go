package openapi

import (
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extensionGVK marks a schema (a list of GVKs) or an operation (one GVK)
// with the kinds it describes. kubectl explain finds a kind's schema by it,
// and kubectl's field-validation check finds a kind's PATCH operation by it.
const extensionGVK = "x-kubernetes-group-version-kind"

// modelName is the schema name of a Go API type. The k8s.io types name
// themselves (OpenAPIModelName, "io.k8s.api.core.v1.Pod"), so the generated
// definitions are already keyed by the names clients expect.
func modelName(model interface{}) string {
	return util.GetCanonicalTypeName(model)
}

// namer tags schemas of registered kinds with their group-version-kinds,
// the job upstream's DefinitionNamer does (k8s.io/apiserver
// pkg/endpoints/openapi/openapi.go NewDefinitionNamer): one Go type may be
// several kinds (meta/v1 DeleteOptions is registered in every group).
type namer struct {
	gvks map[string][]interface{} // model name -> extension value
}

// newNamer collects the kinds of client-go's scheme in the served
// group-versions only: a GVK of a group berth does not serve would send
// clients to an API that is not there.
func newNamer(served map[schema.GroupVersion]bool) *namer {
	byName := map[string][]schema.GroupVersionKind{}
	for gvk, t := range scheme.Scheme.AllKnownTypes() {
		if !served[gvk.GroupVersion()] {
			continue
		}
		name := modelName(reflect.New(t).Interface())
		byName[name] = append(byName[name], gvk)
	}
	n := &namer{gvks: make(map[string][]interface{}, len(byName))}
	for name, gvks := range byName {
		sort.Slice(gvks, func(i, j int) bool {
			a, b := gvks[i], gvks[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
		ext := make([]interface{}, len(gvks))
		for i, gvk := range gvks {
			ext[i] = map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
		}
		n.gvks[name] = ext
	}
	return n
}

// definitionName is common.Config.GetDefinitionName.
func (n *namer) definitionName(name string) (string, spec.Extensions) {
	ext, ok := n.gvks[name]
	if !ok {
		return name, nil
	}
	return name, spec.Extensions{extensionGVK: ext}
}
