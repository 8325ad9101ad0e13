package hpa

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The replica calculation of upstream's
// pkg/controller/podautoscaler/replica_calculator.go for Resource metrics,
// as pure functions of the pods, their metrics and the clock.

// Defaults of kube-controller-manager's --horizontal-pod-autoscaler-* flags.
const (
	defaultTolerance                     = 0.1
	defaultCPUInitializationPeriod       = 5 * time.Minute
	defaultDelayOfInitialReadinessStatus = 30 * time.Second
)

// podMetric is one pod's usage summed over its containers, in milli-units
// (millicores, millibytes), measured over window ending at timestamp.
type podMetric struct {
	value     int64
	timestamp time.Time
	window    time.Duration
}

// podMetrics maps pod name to its usage.
type podMetrics map[string]podMetric

// calculator holds the tunables upstream takes from flags.
type calculator struct {
	tolerance                     float64
	cpuInitializationPeriod       time.Duration
	delayOfInitialReadinessStatus time.Duration
}

var defaultCalculator = calculator{defaultTolerance, defaultCPUInitializationPeriod, defaultDelayOfInitialReadinessStatus}

// resourceTarget is a Resource (or ContainerResource) metric's target:
// exactly one of a percentage of the requests or an average value in
// milli-units, for the whole pod or only the named container.
type resourceTarget struct {
	container    string
	utilization  *int32
	averageValue *int64
}

// resourceResult is a recommendation and what it was computed from.
type resourceResult struct {
	replicas    int32
	utilization int32 // percent of requests; utilization targets only
	average     int64 // milli-units per pod
}

var errNoPods = errors.New("no pods returned by selector while calculating replica count")

// resourceReplicas recommends a replica count for one Resource metric.
// Pods that are unready (and, for cpu, still starting) or have no metrics
// are counted conservatively, as upstream: on a scale-up a missing or
// unready pod counts as using nothing, on a scale-down a missing pod
// counts as using its target, and no fill-in may reverse the direction.
func (c calculator) resourceReplicas(now time.Time, current int32, res corev1.ResourceName, target resourceTarget, pods []*corev1.Pod, measured podMetrics) (resourceResult, error) {
	if len(pods) == 0 {
		return resourceResult{}, errNoPods
	}
	metrics := make(podMetrics, len(measured))
	for k, v := range measured {
		metrics[k] = v
	}
	readyCount, unready, missing, ignored := c.groupPods(now, pods, metrics, res)
	for name := range ignored {
		delete(metrics, name)
	}
	for name := range unready {
		delete(metrics, name)
	}
	if len(metrics) == 0 {
		return resourceResult{}, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}

	var requests map[string]int64
	ratioOf := func(m podMetrics) (float64, resourceResult, error) {
		var r resourceResult
		if target.utilization == nil {
			var total int64
			for _, v := range m {
				total += v.value
			}
			r.average = total / int64(len(m))
			return float64(r.average) / float64(*target.averageValue), r, nil
		}
		var used, requested int64
		var n int64
		for name, v := range m {
			req, ok := requests[name]
			if !ok {
				continue
			}
			used += v.value
			requested += req
			n++
		}
		if requested == 0 {
			return 0, r, errors.New("no metrics returned matched known pods")
		}
		r.utilization = int32(used * 100 / requested)
		r.average = used / n
		return float64(r.utilization) / float64(*target.utilization), r, nil
	}
	if target.utilization != nil {
		var err error
		if requests, err = podRequests(pods, res, target.container); err != nil {
			return resourceResult{}, err
		}
	}
	ratio, result, err := ratioOf(metrics)
	if err != nil {
		return resourceResult{}, err
	}

	scaleUpWithUnready := len(unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(missing) == 0 {
		if math.Abs(1.0-ratio) <= c.tolerance {
			result.replicas = current
		} else {
			result.replicas = int32(math.Ceil(ratio * float64(readyCount)))
		}
		return result, nil
	}

	for name := range missing {
		switch {
		case ratio < 1.0 && target.utilization != nil:
			// On a scale-down a missing pod is taken to use its full request
			// (or the target, when the target is above 100%).
			metrics[name] = podMetric{value: requests[name] * int64(max(100, *target.utilization)) / 100}
		case ratio < 1.0:
			metrics[name] = podMetric{value: *target.averageValue}
		case ratio > 1.0 || target.utilization == nil:
			// On a scale-up a missing pod is taken to use nothing.
			metrics[name] = podMetric{value: 0}
		}
	}
	if scaleUpWithUnready {
		for name := range unready {
			metrics[name] = podMetric{value: 0}
		}
	}
	newRatio, _, err := ratioOf(metrics)
	if err != nil {
		return resourceResult{}, err
	}
	result.replicas = current
	if math.Abs(1.0-newRatio) <= c.tolerance || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		return result, nil // too small a change, or the fill-in reversed the direction
	}
	n := int32(math.Ceil(newRatio * float64(len(metrics))))
	if (newRatio < 1.0 && n > current) || (newRatio > 1.0 && n < current) {
		return result, nil
	}
	result.replicas = n
	return result, nil
}

type nameSet map[string]struct{}

// groupPods sorts pods as upstream's groupPods: deleted and failed pods
// are ignored, pending pods are unready, pods without metrics are missing;
// for cpu, a pod is also unready while it starts up (within the
// initialization period, until it is ready and a whole metric window has
// passed since) or when it has never become ready.
func (c calculator) groupPods(now time.Time, pods []*corev1.Pod, metrics podMetrics, res corev1.ResourceName) (readyCount int, unready, missing, ignored nameSet) {
	unready, missing, ignored = nameSet{}, nameSet{}, nameSet{}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			ignored[pod.Name] = struct{}{}
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			unready[pod.Name] = struct{}{}
			continue
		}
		m, found := metrics[pod.Name]
		if !found {
			missing[pod.Name] = struct{}{}
			continue
		}
		if res == corev1.ResourceCPU && c.cpuUnready(now, pod, m) {
			unready[pod.Name] = struct{}{}
			continue
		}
		readyCount++
	}
	return readyCount, unready, missing, ignored
}

func (c calculator) cpuUnready(now time.Time, pod *corev1.Pod, m podMetric) bool {
	var cond *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			cond = &pod.Status.Conditions[i]
		}
	}
	if cond == nil || pod.Status.StartTime == nil {
		return true
	}
	if pod.Status.StartTime.Add(c.cpuInitializationPeriod).After(now) {
		// Starting up: the sample must be ready-state and cover a whole
		// window since the last readiness change.
		return cond.Status == corev1.ConditionFalse || m.timestamp.Before(cond.LastTransitionTime.Add(m.window))
	}
	// Past start-up: ignore only pods that never became ready.
	return cond.Status == corev1.ConditionFalse && pod.Status.StartTime.Add(c.delayOfInitialReadinessStatus).After(cond.LastTransitionTime.Time)
}

// podRequests sums each pod's container requests for res (only the named
// container's, if any), in milli-units.
func podRequests(pods []*corev1.Pod, res corev1.ResourceName, container string) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for _, pod := range pods {
		var sum int64
		for _, c := range pod.Spec.Containers {
			if container != "" && c.Name != container {
				continue
			}
			q, ok := c.Resources.Requests[res]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", res, c.Name, pod.Name)
			}
			sum += q.MilliValue()
		}
		out[pod.Name] = sum
	}
	return out, nil
}
