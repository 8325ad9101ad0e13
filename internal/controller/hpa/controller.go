// Package hpa is the HorizontalPodAutoscaler controller: every resync
// period it reads each autoscaling/v2 HPA's target through the scale
// subresource, the target pods' usage from metrics.k8s.io, and sets the
// target's replicas to what the Resource and ContainerResource metrics ask
// for, within min/maxReplicas, stabilization windows and scaling policies,
// with upstream's status conditions and events
// (pkg/controller/podautoscaler/horizontal.go).
package hpa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

// Event reasons, as upstream's.
const (
	SuccessfulRescale            = "SuccessfulRescale"
	FailedRescale                = "FailedRescale"
	FailedGetScale               = "FailedGetScale"
	FailedComputeMetricsReplicas = "FailedComputeMetricsReplicas"
	SelectorRequired             = "SelectorRequired"
	InvalidSelector              = "InvalidSelector"
)

const (
	fieldManager = "berth-hpa"
	// DefaultResync is --horizontal-pod-autoscaler-sync-period's default.
	DefaultResync = 15 * time.Second
)

// Controller reconciles HorizontalPodAutoscalers.
type Controller struct {
	client   kubernetes.Interface
	hpas     autoscalinglisters.HorizontalPodAutoscalerLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	metrics  metricsSource
	scales   scaleTarget
	recorder record.EventRecorder
	worker   *ctrlutil.Worker
	calc     calculator
	resync   time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	histories map[string]*history // by queue key
}

// New registers the controller's informers; call Run after the factory starts.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	hpaInf := inf.Autoscaling().V2().HorizontalPodAutoscalers()
	podInf := inf.Core().V1().Pods()
	c := &Controller{
		client:    client,
		hpas:      hpaInf.Lister(),
		pods:      podInf.Lister(),
		synced:    []cache.InformerSynced{hpaInf.Informer().HasSynced, podInf.Informer().HasSynced},
		metrics:   restMetrics{client.CoreV1().RESTClient()},
		scales:    typedScales{client},
		recorder:  recorder,
		calc:      defaultCalculator,
		resync:    DefaultResync,
		now:       time.Now,
		log:       log,
		histories: map[string]*history{},
	}
	c.worker = &ctrlutil.Worker{Queue: ctrlutil.NewQueue("horizontalpodautoscaler"), Sync: c.sync, Log: log}
	_, err := hpaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		// Status writes (ours) need no new sync; the resync comes anyway.
		UpdateFunc: func(old, cur any) {
			if !equality.Semantic.DeepEqual(old.(*autoscalingv2.HorizontalPodAutoscaler).Spec, cur.(*autoscalingv2.HorizontalPodAutoscaler).Spec) {
				c.enqueue(cur)
			}
		},
		DeleteFunc: func(obj any) {
			if key, ok := ctrlutil.KeyOf(obj); ok {
				c.forget(key)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("hpa event handler: %w", err)
	}
	return c, nil
}

// Run syncs HPAs with n workers until ctx is done.
func (c *Controller) Run(ctx context.Context, n int) error {
	return c.worker.Run(ctx, n, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, ok := ctrlutil.KeyOf(obj); ok {
		c.worker.Queue.Add(key)
	}
}

func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.histories, key)
}

func (c *Controller) historyFor(key string) *history {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.histories[key]
	if h == nil {
		h = &history{}
		c.histories[key] = h
	}
	return h
}

// sync reconciles one HPA, writes its status if it changed and schedules
// the next look one resync period later: usage changes without any event.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key can never sync
	}
	shared, err := c.hpas.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	hpa := shared.DeepCopy()
	recErr := c.reconcile(ctx, key, hpa)
	if !equality.Semantic.DeepEqual(shared.Status, hpa.Status) {
		if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).UpdateStatus(ctx, hpa, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return errors.Join(recErr, fmt.Errorf("update status of hpa %s: %w", key, err))
		}
	}
	c.worker.Queue.AddAfter(key, c.resync)
	return recErr
}

// reconcile decides and applies the target's replica count, recording in
// hpa.Status why. It returns an error only for API failures worth a retry;
// problems with metrics are conditions and events, retried at the resync.
func (c *Controller) reconcile(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	now := c.now()
	ref := hpa.Spec.ScaleTargetRef
	target := ref.Kind + "/" + ref.Name
	scale, err := c.scales.getScale(ctx, hpa.Namespace, ref)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, FailedGetScale, err.Error())
		setCondition(hpa, now, autoscalingv2.AbleToScale, corev1.ConditionFalse, FailedGetScale, "the HPA controller was unable to get the target's current scale: %v", err)
		if apierrors.IsNotFound(err) {
			return nil // comes back at the resync once the target exists
		}
		return fmt.Errorf("get scale of %s: %w", target, err)
	}
	setCondition(hpa, now, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")

	current := scale.Spec.Replicas
	h := c.historyFor(key)
	h.seed(now, current)
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	up, down := scalingRules(hpa.Spec.Behavior)

	var desired int32
	var reason string
	var statuses []autoscalingv2.MetricStatus
	switch {
	case current == 0 && minReplicas != 0:
		// Someone scaled the target to zero by hand: leave it there.
		desired = 0
		setCondition(hpa, now, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	case current > hpa.Spec.MaxReplicas:
		reason, desired = "Current number of replicas above Spec.MaxReplicas", hpa.Spec.MaxReplicas
	case current < minReplicas:
		reason, desired = "Current number of replicas below Spec.MinReplicas", minReplicas
	default:
		proposal, metricName, sts, err := c.replicasForMetrics(ctx, now, hpa, current, scale.Status.Selector)
		statuses = sts
		if err != nil {
			setStatus(hpa, now, current, hpa.Status.DesiredReplicas, statuses, false)
			c.recorder.Event(hpa, corev1.EventTypeWarning, FailedComputeMetricsReplicas, err.Error())
			return nil
		}
		switch {
		case proposal > current:
			reason = metricName + " above target"
		case proposal < current:
			reason = "All metrics below target"
		}
		n := h.normalize(now, up, down, minReplicas, hpa.Spec.MaxReplicas, current, proposal)
		setCondition(hpa, now, autoscalingv2.AbleToScale, corev1.ConditionTrue, n.ableReason, "%s", n.ableMessage)
		limited := corev1.ConditionFalse
		if n.limited {
			limited = corev1.ConditionTrue
		}
		setCondition(hpa, now, autoscalingv2.ScalingLimited, limited, n.limitReason, "%s", n.limitMessage)
		desired = n.replicas
	}

	if desired == current {
		setStatus(hpa, now, current, desired, statuses, false)
		return nil
	}
	scale = scale.DeepCopy()
	scale.Spec.Replicas = desired
	if err := c.scales.updateScale(ctx, hpa.Namespace, ref, scale); err != nil {
		c.recorder.Eventf(hpa, corev1.EventTypeWarning, FailedRescale, "New size: %d; reason: %s; error: %v", desired, reason, err)
		setCondition(hpa, now, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: %v", err)
		setStatus(hpa, now, current, hpa.Status.DesiredReplicas, statuses, false)
		return fmt.Errorf("update scale of %s: %w", target, err)
	}
	setCondition(hpa, now, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale to %d", desired)
	c.recorder.Eventf(hpa, corev1.EventTypeNormal, SuccessfulRescale, "New size: %d; reason: %s", desired, reason)
	c.log.Info("rescaled", "hpa", key, "target", target, "from", current, "to", desired, "reason", reason)
	h.recordScale(now, up, down, current, desired)
	setStatus(hpa, now, current, desired, statuses, true)
	return nil
}

// metricError is why a metric gave no recommendation, as the ScalingActive
// condition shows it.
type metricError struct {
	reason string
	err    error
}

func (e *metricError) Error() string { return e.err.Error() }

// replicasForMetrics is the highest recommendation over the HPA's metrics,
// the metric that made it, and a status per metric (zero for failed ones,
// index-aligned with spec.metrics as kubectl reads them). Like upstream it
// fails when every metric failed, or when some failed and the rest would
// scale down: a missing metric must not shrink the target.
func (c *Controller) replicasForMetrics(ctx context.Context, now time.Time, hpa *autoscalingv2.HorizontalPodAutoscaler, current int32, selectorText string) (int32, string, []autoscalingv2.MetricStatus, error) {
	if selectorText == "" {
		c.recorder.Event(hpa, corev1.EventTypeWarning, SelectorRequired, "selector is required")
		setCondition(hpa, now, autoscalingv2.ScalingActive, corev1.ConditionFalse, InvalidSelector, "the HPA target's scale is missing a selector")
		return 0, "", nil, errors.New("selector is required")
	}
	selector, err := labels.Parse(selectorText)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, InvalidSelector, err.Error())
		setCondition(hpa, now, autoscalingv2.ScalingActive, corev1.ConditionFalse, InvalidSelector, "the HPA target's scale has an invalid selector: %v", err)
		return 0, "", nil, fmt.Errorf("couldn't convert selector into a corresponding internal selector object: %w", err)
	}
	pods, err := c.pods.Pods(hpa.Namespace).List(selector)
	if err != nil {
		return 0, "", nil, fmt.Errorf("list pods: %w", err)
	}
	if len(hpa.Spec.Metrics) == 0 {
		// The API defaults an empty list to cpu at 80%; an object written
		// around that default gets a condition, not a guess.
		setCondition(hpa, now, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidMetricSourceType", "the HPA has no metrics to scale on")
		return 0, "", nil, errors.New("the HPA has no metrics to scale on")
	}

	statuses := make([]autoscalingv2.MetricStatus, len(hpa.Spec.Metrics))
	var replicas int32
	var name string
	var invalid int
	var first *metricError
	for i, spec := range hpa.Spec.Metrics {
		proposal, metricName, status, merr := c.replicasForMetric(ctx, now, hpa.Namespace, spec, current, selector, pods)
		if merr != nil {
			if first == nil {
				first = merr
			}
			invalid++
			c.recorder.Event(hpa, corev1.EventTypeWarning, merr.reason, merr.Error())
			continue
		}
		statuses[i] = status
		if replicas == 0 || proposal > replicas {
			replicas, name = proposal, metricName
		}
	}
	if invalid >= len(hpa.Spec.Metrics) || (invalid > 0 && replicas < current) {
		setCondition(hpa, now, autoscalingv2.ScalingActive, corev1.ConditionFalse, first.reason, "the HPA was unable to compute the replica count: %v", first)
		return 0, "", statuses, fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %w", invalid, len(hpa.Spec.Metrics), first)
	}
	setCondition(hpa, now, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from %s", name)
	return replicas, name, statuses, nil
}

// replicasForMetric handles one metric. Only Resource and
// ContainerResource metrics exist here: berth serves no custom or external
// metrics API.
func (c *Controller) replicasForMetric(ctx context.Context, now time.Time, namespace string, spec autoscalingv2.MetricSpec, current int32, selector labels.Selector, pods []*corev1.Pod) (int32, string, autoscalingv2.MetricStatus, *metricError) {
	var none autoscalingv2.MetricStatus
	failed := &metricError{reason: "FailedGet" + string(spec.Type) + "Metric"}
	var res corev1.ResourceName
	var mt autoscalingv2.MetricTarget
	var target resourceTarget
	kind := "resource"
	switch {
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		res, mt = spec.Resource.Name, spec.Resource.Target
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		res, mt, target.container, kind = spec.ContainerResource.Name, spec.ContainerResource.Target, spec.ContainerResource.Container, "container resource"
	case spec.Type == autoscalingv2.ResourceMetricSourceType || spec.Type == autoscalingv2.ContainerResourceMetricSourceType:
		failed.reason, failed.err = "InvalidMetricSourceType", fmt.Errorf("%s metric has no source", spec.Type)
		return 0, "", none, failed
	default:
		failed.err = fmt.Errorf("%s metrics are not supported: this cluster serves only the resource metrics API (metrics.k8s.io)", spec.Type)
		return 0, "", none, failed
	}
	var metricName string
	switch {
	case mt.AverageValue != nil:
		v := mt.AverageValue.MilliValue()
		target.averageValue, metricName = &v, fmt.Sprintf("%s %s", res, kind)
	case mt.AverageUtilization != nil:
		target.utilization, metricName = mt.AverageUtilization, fmt.Sprintf("%s %s utilization (percentage of request)", res, kind)
	default:
		failed.err = fmt.Errorf("failed to get %s %s metric value: invalid %s metric source: neither a utilization target nor a value target was set", res, kind, kind)
		return 0, "", none, failed
	}
	measured, err := c.metrics.resourceMetrics(ctx, res, target.container, namespace, selector)
	if err != nil {
		failed.err = fmt.Errorf("failed to get %s %s metric value: unable to get metrics for resource %s: %w", res, kind, res, err)
		return 0, "", none, failed
	}
	r, err := c.calc.resourceReplicas(now, current, res, target, pods, measured)
	if err != nil {
		failed.err = fmt.Errorf("failed to get %s %s metric value: %w", res, kind, err)
		return 0, "", none, failed
	}
	value := autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(r.average, resource.DecimalSI)}
	if target.utilization != nil {
		value.AverageUtilization = ptr(r.utilization)
	}
	status := autoscalingv2.MetricStatus{Type: spec.Type}
	if target.container == "" {
		status.Resource = &autoscalingv2.ResourceMetricStatus{Name: res, Current: value}
	} else {
		status.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{Name: res, Container: target.container, Current: value}
	}
	return r.replicas, metricName, status, nil
}

// setCondition sets a condition, moving its transition time only when the
// status changes.
func setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time, t autoscalingv2.HorizontalPodAutoscalerConditionType,
	status corev1.ConditionStatus, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for i := range hpa.Status.Conditions {
		c := &hpa.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return
	}
	hpa.Status.Conditions = append(hpa.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now)})
}

func setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time, current, desired int32, metrics []autoscalingv2.MetricStatus, rescaled bool) {
	hpa.Status.CurrentReplicas = current
	hpa.Status.DesiredReplicas = desired
	hpa.Status.CurrentMetrics = metrics
	hpa.Status.ObservedGeneration = ptr(hpa.Generation)
	if rescaled {
		t := metav1.NewTime(now)
		hpa.Status.LastScaleTime = &t
	}
}
