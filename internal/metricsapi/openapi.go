package metricsapi

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/berth-dev/berth/internal/apiserver/openapi"
	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// Schema names of the kinds, upstream's (k8s.io/metrics) so clients that
// know metrics-server's document find the same names here.
const (
	modelPrefix          = "io.k8s.metrics.pkg.apis.metrics.v1beta1."
	modelPodMetrics      = modelPrefix + "PodMetrics"
	modelPodMetricsList  = modelPrefix + "PodMetricsList"
	modelNodeMetrics     = modelPrefix + "NodeMetrics"
	modelNodeMetricsList = modelPrefix + "NodeMetricsList"
	modelContainer       = modelPrefix + "ContainerMetrics"
)

// OpenAPIResources are the resources of the group's OpenAPI document.
var OpenAPIResources = []openapi.Resource{
	{Name: "pods", Namespaced: true, Kind: "PodMetrics", ListKind: "PodMetricsList", Model: modelPodMetrics, ListModel: modelPodMetricsList},
	{Name: "nodes", Kind: "NodeMetrics", ListKind: "NodeMetricsList", Model: modelNodeMetrics, ListModel: modelNodeMetricsList},
}

// OpenAPIDefinitions are the schemas of metrics.k8s.io/v1beta1 (the types
// in package v1beta1 are berth's own, so there is nothing generated), for
// the API server's OpenAPI v3 document of the group: what `kubectl explain
// pods --api-version=metrics.k8s.io/v1beta1` reads.
func OpenAPIDefinitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	objectMeta, listMeta := metav1.ObjectMeta{}.OpenAPIModelName(), metav1.ListMeta{}.OpenAPIModelName()
	timeModel, quantity := metav1.Time{}.OpenAPIModelName(), resource.Quantity{}.OpenAPIModelName()
	usage := spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "The memory working set in bytes (memory) and the CPU usage in cores (cpu), averaged over the window.",
		Type:        []string{"object"},
		AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: &spec.Schema{
			SchemaProps: spec.SchemaProps{Ref: ref(quantity)}}},
	}}
	str := func(desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Description: desc, Type: []string{"string"}}}
	}
	refTo := func(desc, model string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Description: desc, Ref: ref(model)}}
	}
	typeMeta := map[string]spec.Schema{
		"apiVersion": str("APIVersion defines the versioned schema of this representation of an object."),
		"kind":       str("Kind is a string value representing the REST resource this object represents."),
	}
	object := func(desc, kind string, required []string, props map[string]spec.Schema, deps ...string) common.OpenAPIDefinition {
		all := map[string]spec.Schema{}
		for k, v := range typeMeta {
			all[k] = v
		}
		for k, v := range props {
			all[k] = v
		}
		return common.OpenAPIDefinition{
			Schema: spec.Schema{
				SchemaProps: spec.SchemaProps{Description: desc, Type: []string{"object"}, Required: required, Properties: all},
				VendorExtensible: spec.VendorExtensible{Extensions: spec.Extensions{
					"x-kubernetes-group-version-kind": []interface{}{map[string]interface{}{
						"group": v1beta1.GroupName, "version": v1beta1.Version, "kind": kind}},
				}},
			},
			Dependencies: deps,
		}
	}
	window := str("The window over which usage was averaged, ending at timestamp (a duration such as 15s).")
	timestamp := refTo("The time the usage window ended.", timeModel)
	items := func(model string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"},
			Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(model)}}}}}
	}
	return map[string]common.OpenAPIDefinition{
		modelNodeMetrics: object("NodeMetrics sets resource usage metrics of a node.", "NodeMetrics",
			[]string{"timestamp", "window", "usage"}, map[string]spec.Schema{
				"metadata":  refTo("Standard object's metadata.", objectMeta),
				"timestamp": timestamp, "window": window, "usage": usage,
			}, objectMeta, timeModel, quantity),
		modelNodeMetricsList: object("NodeMetricsList is a list of NodeMetrics.", "NodeMetricsList",
			[]string{"items"}, map[string]spec.Schema{
				"metadata": refTo("Standard list metadata.", listMeta),
				"items":    items(modelNodeMetrics),
			}, listMeta, modelNodeMetrics),
		modelPodMetrics: object("PodMetrics sets resource usage metrics of a pod.", "PodMetrics",
			[]string{"timestamp", "window", "containers"}, map[string]spec.Schema{
				"metadata":  refTo("Standard object's metadata.", objectMeta),
				"timestamp": timestamp, "window": window,
				"containers": func() spec.Schema {
					s := items(modelContainer)
					s.Description = "Metrics for all containers are collected within the same time window."
					return s
				}(),
			}, objectMeta, timeModel, modelContainer),
		modelPodMetricsList: object("PodMetricsList is a list of PodMetrics.", "PodMetricsList",
			[]string{"items"}, map[string]spec.Schema{
				"metadata": refTo("Standard list metadata.", listMeta),
				"items":    items(modelPodMetrics),
			}, listMeta, modelPodMetrics),
		modelContainer: {
			Schema: spec.Schema{SchemaProps: spec.SchemaProps{
				Description: "ContainerMetrics sets resource usage metrics of a container.",
				Type:        []string{"object"},
				Required:    []string{"name", "usage"},
				Properties:  map[string]spec.Schema{"name": str("Container name corresponding to the one from pod.spec.containers."), "usage": usage},
			}},
			Dependencies: []string{quantity},
		},
	}
}
