package hpa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// metricsSource gives each pod's usage of a resource, summed over its
// containers, or of one container when container is not empty.
type metricsSource interface {
	resourceMetrics(ctx context.Context, res corev1.ResourceName, container, namespace string, selector labels.Selector) (podMetrics, error)
}

// restMetrics reads metrics.k8s.io/v1beta1 through the API server, as
// upstream's resource metrics client does.
type restMetrics struct{ rest rest.Interface }

var errNoMetrics = errors.New("no metrics returned from resource metrics API")

func (m restMetrics) resourceMetrics(ctx context.Context, res corev1.ResourceName, container, namespace string, selector labels.Selector) (podMetrics, error) {
	raw, err := m.rest.Get().AbsPath("/apis", v1beta1.GroupName, v1beta1.Version, "namespaces", namespace, "pods").
		Param("labelSelector", selector.String()).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pod metrics: %w", err)
	}
	var list v1beta1.PodMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode pod metrics: %w", err)
	}
	return sumContainers(list.Items, res, container)
}

// sumContainers totals each pod's containers (or takes the one named
// container); as upstream, a pod with a container that lacks the resource
// is left out, and a pod without the named container is an error.
func sumContainers(items []v1beta1.PodMetrics, res corev1.ResourceName, container string) (podMetrics, error) {
	if len(items) == 0 {
		return nil, errNoMetrics
	}
	out := make(podMetrics, len(items))
	for _, pm := range items {
		var sum int64
		complete, found := len(pm.Containers) > 0, false
		for _, c := range pm.Containers {
			if container != "" && c.Name != container {
				continue
			}
			found = true
			q, ok := c.Usage[res]
			if !ok {
				complete = false
				break
			}
			sum += q.MilliValue()
		}
		if container != "" && !found {
			return nil, fmt.Errorf("container %s not present in metrics for pod %s/%s", container, pm.Namespace, pm.Name)
		}
		if complete {
			out[pm.Name] = podMetric{value: sum, timestamp: pm.Timestamp.Time, window: pm.Window.Duration}
		}
	}
	return out, nil
}

// scaleTarget reads and writes the scale subresource of an HPA's target.
type scaleTarget interface {
	getScale(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error)
	updateScale(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference, s *autoscalingv1.Scale) error
}

// typedScales serves the built-in kinds with a scale subresource through
// their typed clients. berth serves no custom resources, so the discovery
// based generic scale client upstream uses would find nothing more.
type typedScales struct{ client kubernetes.Interface }

type scaleFuncs struct {
	get    func(ctx context.Context, name string, o metav1.GetOptions) (*autoscalingv1.Scale, error)
	update func(ctx context.Context, name string, s *autoscalingv1.Scale, o metav1.UpdateOptions) (*autoscalingv1.Scale, error)
}

func (t typedScales) funcs(namespace string, ref autoscalingv2.CrossVersionObjectReference) (scaleFuncs, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return scaleFuncs{}, fmt.Errorf("scaleTargetRef apiVersion %q: %w", ref.APIVersion, err)
	}
	apps := gv.Group == "apps" || gv.Group == "extensions"
	switch {
	case apps && ref.Kind == "Deployment":
		c := t.client.AppsV1().Deployments(namespace)
		return scaleFuncs{c.GetScale, c.UpdateScale}, nil
	case apps && ref.Kind == "ReplicaSet":
		c := t.client.AppsV1().ReplicaSets(namespace)
		return scaleFuncs{c.GetScale, c.UpdateScale}, nil
	case apps && ref.Kind == "StatefulSet":
		c := t.client.AppsV1().StatefulSets(namespace)
		return scaleFuncs{c.GetScale, c.UpdateScale}, nil
	case gv.Group == "" && ref.Kind == "ReplicationController":
		c := t.client.CoreV1().ReplicationControllers(namespace)
		return scaleFuncs{c.GetScale, c.UpdateScale}, nil
	}
	return scaleFuncs{}, fmt.Errorf("%s %s has no scale subresource in this cluster", ref.APIVersion, ref.Kind)
}

func (t typedScales) getScale(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	f, err := t.funcs(namespace, ref)
	if err != nil {
		return nil, err
	}
	return f.get(ctx, ref.Name, metav1.GetOptions{})
}

func (t typedScales) updateScale(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference, s *autoscalingv1.Scale) error {
	f, err := t.funcs(namespace, ref)
	if err != nil {
		return err
	}
	_, err = f.update(ctx, ref.Name, s, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}
