package openapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Option configures a Handler.
type Option func(*Handler)

// Definitions returns schemas keyed by model name, their references made
// with ref (the shape of the generated GetOpenAPIDefinitions).
type Definitions func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition

// Resource is a read-only resource of an extra document. Its get and list
// paths name its kinds: kubectl explain maps a resource to its kind by them,
// then finds the schema that carries that x-kubernetes-group-version-kind.
type Resource struct {
	Name           string // plural, "pods"
	Namespaced     bool
	Kind, ListKind string
	// Model and ListModel are the schema names of Kind and ListKind.
	Model, ListModel string
}

// WithV3Definitions publishes a v3 document for gv, an API served outside
// the kinds (metrics.k8s.io): get and list paths of resources, the schemas
// defs returns (each kind's with its own x-kubernetes-group-version-kind)
// and the generated ones they depend on (ObjectMeta, Quantity).
func WithV3Definitions(gv schema.GroupVersion, defs Definitions, resources ...Resource) Option {
	return func(h *Handler) { h.extraV3 = append(h.extraV3, extraV3{gv, defs, resources}) }
}

type extraV3 struct {
	gv        schema.GroupVersion
	defs      Definitions
	resources []Resource
}

// paths are the get and list operations of e's resources.
func (e extraV3) paths() map[string]*spec3.Path {
	base := "/" + groupVersionPath(e.gv)
	pathParam := func(name, desc string) *spec3.Parameter {
		return &spec3.Parameter{ParameterProps: spec3.ParameterProps{Name: name, In: "path", Required: true, Description: desc,
			Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}}}
	}
	op := func(action, kind, model string) *spec3.Operation {
		ref := spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(model))
		return &spec3.Operation{
			OperationProps: spec3.OperationProps{Responses: &spec3.Responses{ResponsesProps: spec3.ResponsesProps{
				StatusCodeResponses: map[int]*spec3.Response{200: {ResponseProps: spec3.ResponseProps{Description: "OK",
					Content: map[string]*spec3.MediaType{mimeJSON: {MediaTypeProps: spec3.MediaTypeProps{
						Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref}}}}}}}},
			}}},
			VendorExtensible: spec.VendorExtensible{Extensions: spec.Extensions{
				"x-kubernetes-action": action,
				extensionGVK:          map[string]interface{}{"group": e.gv.Group, "version": e.gv.Version, "kind": kind},
			}},
		}
	}
	paths := map[string]*spec3.Path{}
	for _, r := range e.resources {
		scope, params := "", []*spec3.Parameter(nil)
		if r.Namespaced {
			scope = "/namespaces/{namespace}"
			params = []*spec3.Parameter{pathParam("namespace", pNamespace.desc)}
			// Every namespace at once, as upstream lists namespaced resources.
			paths[base+"/"+r.Name] = &spec3.Path{PathProps: spec3.PathProps{Get: op("list", r.ListKind, r.ListModel)}}
		}
		paths[base+scope+"/"+r.Name] = &spec3.Path{PathProps: spec3.PathProps{Get: op("list", r.ListKind, r.ListModel), Parameters: params}}
		paths[base+scope+"/"+r.Name+"/{name}"] = &spec3.Path{PathProps: spec3.PathProps{Get: op("get", r.Kind, r.Model),
			Parameters: append(slices.Clone(params), pathParam("name", fmt.Sprintf(pName.desc, r.Kind)))}}
	}
	return paths
}

// buildExtraV3Document builds the document of one extraV3 on top of the
// generated definitions gen (not modified).
func buildExtraV3Document(e extraV3, gen map[string]common.OpenAPIDefinition) (*document, error) {
	own := e.defs(func(name string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(name))
	})
	all := maps.Clone(gen)
	maps.Copy(all, own)
	cfg := &common.OpenAPIV3Config{
		Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
		Definitions:       all,
		GetDefinitionName: func(name string) (string, spec.Extensions) { return name, nil },
	}
	schemas, err := builder3.BuildOpenAPIDefinitionsForResources(cfg, slices.Sorted(maps.Keys(own))...)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 %s: %w", e.gv, err)
	}
	doc := &spec3.OpenAPI{
		Version:    "3.0.0",
		Info:       cfg.Info,
		Paths:      &spec3.Paths{Paths: e.paths()},
		Components: &spec3.Components{Schemas: schemas},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 %s: %w", e.gv, err)
	}
	return newDocument(body, mimeJSON)
}
