// Package job runs Jobs to completion: pods up to parallelism until
// completions succeed (NonIndexed or Indexed), re-creation back-off after
// failures, backoffLimit, activeDeadlineSeconds, suspend, podFailurePolicy,
// and the SuccessCriteriaMet/Complete and FailureTarget/Failed conditions.
// It also holds the ttlSecondsAfterFinished controller (ttl.go).
//
// Finished pods are counted exactly once with the job-tracking finalizer,
// as upstream's pkg/controller/job/job_controller.go: a finished pod's UID
// first goes into status.uncountedTerminatedPods, then its finalizer is
// removed, then it moves into status.succeeded/failed.
package job

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager  = "berth-job"
	burstReplicas = 500
)

var kind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller syncs Jobs.
type Controller struct {
	client     kubernetes.Interface
	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	podControl ctrlutil.PodControl
	recorder   record.EventRecorder
	exp        *ctrlutil.Expectations
	queue      workqueue.TypedRateLimitingInterface[string]
	clock      clock.Clock
	log        *slog.Logger
	synced     []cache.InformerSynced

	// finalizersRemoved holds pods whose tracking finalizer we removed but
	// whose update the informer hasn't shown yet, so they aren't counted twice.
	mu                sync.Mutex
	finalizersRemoved sets.Set[types.UID]
}

// New returns the Job controller registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client:            client,
		jobLister:         inf.Batch().V1().Jobs().Lister(),
		podLister:         inf.Core().V1().Pods().Lister(),
		podControl:        ctrlutil.RealPodControl{Client: client, Recorder: rec, FieldManager: fieldManager},
		recorder:          rec,
		exp:               ctrlutil.NewExpectations(clock.RealClock{}),
		queue:             ctrlutil.NewQueue("job"),
		clock:             clock.RealClock{},
		log:               log.With("component", "job"),
		finalizersRemoved: sets.New[types.UID](),
	}
	jobInf := inf.Batch().V1().Jobs().Informer()
	podInf := inf.Core().V1().Pods().Informer()
	if _, err := jobInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, ok := ctrlutil.KeyOf(obj); ok {
				c.exp.Delete(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podChanged(obj, true, false) },
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Pod).ResourceVersion != cur.(*corev1.Pod).ResourceVersion {
				c.podChanged(cur, false, false)
			}
		},
		DeleteFunc: func(obj any) { c.podChanged(obj, false, true) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{jobInf.HasSynced, podInf.HasSynced}
	return c, nil
}

// Run syncs with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, ok := ctrlutil.KeyOf(obj); ok {
		c.queue.Add(key)
	}
}

func (c *Controller) podChanged(obj any, added, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if deleted || !slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer) {
		c.mu.Lock()
		c.finalizersRemoved.Delete(pod.UID)
		c.mu.Unlock()
	}
	key, uid, ok := ctrlutil.ControllerKey(pod, kind)
	if !ok {
		return
	}
	if j, err := c.jobLister.Jobs(pod.Namespace).Get(metav1.GetControllerOfNoCopy(pod).Name); err != nil || j.UID != uid {
		return
	}
	switch {
	case added && pod.DeletionTimestamp == nil:
		c.exp.CreationObserved(key)
	case deleted || (added && pod.DeletionTimestamp != nil):
		c.exp.DeletionObserved(key, pod.UID)
	case pod.DeletionTimestamp != nil:
		c.exp.DeletionObserved(key, pod.UID)
	}
	c.queue.Add(key)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	job := cached.DeepCopy()
	sel, err := jobSelector(job)
	if err != nil {
		c.log.Warn("invalid selector", "key", key, "err", err)
		return nil
	}
	satisfied := c.exp.Satisfied(key)
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, job, sel, all)
	if err != nil {
		return err
	}
	if finished(job) {
		// Let any pods left over go.
		return c.removeFinalizers(ctx, withFinalizer(pods))
	}
	now := c.clock.Now()
	if err := c.trackFinishedPods(ctx, job, pods); err != nil {
		return err
	}
	st := &job.Status
	var active, terminating []*corev1.Pod
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded:
			terminating = append(terminating, p)
		case ctrlutil.IsPodActive(p):
			active = append(active, p)
		}
	}

	// Suspend and resume.
	if suspended(job) {
		if setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, "Job suspended", now) {
			c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
	} else {
		if hasTrueCondition(st, batchv1.JobSuspended) {
			setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, "Job resumed", now)
			c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
			// The deadline counts from the resume, not the first start.
			st.StartTime = nil
		}
		if st.StartTime == nil {
			t := metav1.NewTime(now)
			st.StartTime = &t
		}
	}

	// Failure and success criteria.
	if !hasTrueCondition(st, batchv1.JobFailureTarget) && !hasTrueCondition(st, batchv1.JobSuccessCriteriaMet) {
		reason, msg := c.failureReason(job, pods, now)
		switch {
		case reason != "":
			setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now)
			c.recorder.Event(job, corev1.EventTypeWarning, reason, msg)
		case succeededEnough(job, int32(len(active))):
			setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletions, now)
		}
	}
	finishing := hasTrueCondition(st, batchv1.JobFailureTarget) || hasTrueCondition(st, batchv1.JobSuccessCriteriaMet)

	var manageErr error
	created := 0
	switch {
	case finishing || suspended(job):
		manageErr = c.deletePods(ctx, key, job, active)
		active = nil
	case satisfied:
		active, created, manageErr = c.manage(ctx, key, job, active, pods, now)
	}

	if finishing && len(active) == 0 && created == 0 && len(terminating) == 0 {
		if ft := getCondition(st, batchv1.JobFailureTarget); ft != nil && ft.Status == corev1.ConditionTrue {
			setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, now)
		} else if sc := getCondition(st, batchv1.JobSuccessCriteriaMet); sc != nil {
			setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, sc.Reason, sc.Message, now)
			t := metav1.NewTime(now)
			st.CompletionTime = &t
			c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		}
	}
	var ready int32
	for _, p := range active {
		if ctrlutil.IsPodReady(p) {
			ready++
		}
	}
	st.Active = int32(len(active) + created)
	st.Ready = &ready
	nTerm := int32(len(terminating))
	st.Terminating = &nTerm
	if err := c.writeStatus(ctx, cached, job); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	// Wake up for the active deadline.
	if ads := job.Spec.ActiveDeadlineSeconds; ads != nil && st.StartTime != nil && !finishing && !suspended(job) {
		c.queue.AddAfter(key, st.StartTime.Add(time.Duration(*ads)*time.Second).Sub(now)+time.Second)
	}
	return nil
}

// jobSelector is spec.selector; the API server defaults it to the
// controller-uid label, which we fall back to if it didn't.
func jobSelector(j *batchv1.Job) (labels.Selector, error) {
	if j.Spec.Selector == nil {
		return labels.SelectorFromSet(labels.Set{batchv1.ControllerUidLabel: string(j.UID)}), nil
	}
	return metav1.LabelSelectorAsSelector(j.Spec.Selector)
}

func (c *Controller) claimPods(ctx context.Context, j *batchv1.Job, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	m := &ctrlutil.RefManager{
		Owner: j, OwnerGVK: kind, Selector: sel,
		CanAdopt: ctrlutil.RecheckDeletion(j, func(ctx context.Context) (metav1.Object, error) {
			return c.client.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, ns, name string, p []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		},
	}
	return ctrlutil.Claim(ctx, m, pods)
}

func withFinalizer(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			out = append(out, p)
		}
	}
	return out
}

// trackFinishedPods counts pods that finished since the last sync, in the
// three steps described in the package doc. Pods deleted by someone else
// before finishing count as failed, and are replaced.
func (c *Controller) trackFinishedPods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) error {
	st := &job.Status
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	u := st.UncountedTerminatedPods
	known := sets.New(u.Succeeded...).Insert(u.Failed...)
	c.mu.Lock()
	removed := c.finalizersRemoved.Clone()
	c.mu.Unlock()
	var ignored []*corev1.Pod // failures podFailurePolicy says to ignore
	added := false
	for _, p := range pods {
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) || known.Has(p.UID) || removed.Has(p.UID) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			u.Succeeded = append(u.Succeeded, p.UID)
		case p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil:
			if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).action == batchv1.PodFailurePolicyActionIgnore {
				ignored = append(ignored, p)
				continue
			}
			u.Failed = append(u.Failed, p.UID)
		default:
			continue
		}
		added = true
	}
	if added {
		updated, err := c.updateStatus(ctx, job)
		if err != nil {
			return err
		}
		*job = *updated
		st, u = &job.Status, job.Status.UncountedTerminatedPods
	}
	if u == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
		u = st.UncountedTerminatedPods
	}
	uncounted := sets.New(u.Succeeded...).Insert(u.Failed...)
	var strip []*corev1.Pod
	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		byUID[p.UID] = p
		if uncounted.Has(p.UID) && slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			strip = append(strip, p)
		}
	}
	if err := c.removeFinalizers(ctx, append(strip, ignored...)); err != nil {
		return err
	}
	// Every uncounted pod now has no finalizer (or is gone): count it.
	done := parseIndexes(st.CompletedIndexes, completions(job))
	for _, uid := range u.Succeeded {
		if !isIndexed(job) {
			st.Succeeded++
			continue
		}
		if p, ok := byUID[uid]; ok {
			if i := podIndex(p); i >= 0 && i < int(completions(job)) {
				done.Insert(i)
			}
		}
	}
	if isIndexed(job) {
		st.CompletedIndexes = formatIndexes(done)
		st.Succeeded = int32(done.Len())
	}
	st.Failed += int32(len(u.Failed))
	u.Succeeded, u.Failed = nil, nil
	return nil
}

func completions(j *batchv1.Job) int32 {
	if j.Spec.Completions == nil {
		return 0
	}
	return *j.Spec.Completions
}

// removeFinalizers strips the job-tracking finalizer from pods.
func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod) error {
	for _, p := range pods {
		keep := slices.DeleteFunc(slices.Clone(p.Finalizers), func(f string) bool { return f == batchv1.JobTrackingFinalizer })
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": keep, "resourceVersion": p.ResourceVersion}})
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove tracking finalizer from pod %s: %w", p.Name, err)
		}
		c.mu.Lock()
		c.finalizersRemoved.Insert(p.UID)
		c.mu.Unlock()
	}
	return nil
}

// failureReason returns why the Job fails now, if it does.
func (c *Controller) failureReason(job *batchv1.Job, pods []*corev1.Pod, now time.Time) (string, string) {
	for _, p := range pods {
		if p.Status.Phase != corev1.PodFailed {
			continue
		}
		if m := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); m.action == batchv1.PodFailurePolicyActionFailJob {
			return batchv1.JobReasonPodFailurePolicy, m.msg
		}
	}
	if job.Status.Failed > backoffLimit(job) {
		return batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit
	}
	if ads := job.Spec.ActiveDeadlineSeconds; ads != nil && job.Status.StartTime != nil && !suspended(job) &&
		now.Sub(job.Status.StartTime.Time) >= time.Duration(*ads)*time.Second {
		return batchv1.JobReasonDeadlineExceeded, msgDeadline
	}
	return "", ""
}

// succeededEnough: completions reached, or (no completions set) one pod
// succeeded and none is running any more.
func succeededEnough(job *batchv1.Job, active int32) bool {
	if job.Spec.Completions == nil {
		return job.Status.Succeeded > 0 && active == 0
	}
	return job.Status.Succeeded >= *job.Spec.Completions
}

// manage creates or deletes pods toward wantActive. It returns the active
// pods it kept and how many it created.
func (c *Controller) manage(ctx context.Context, key string, job *batchv1.Job, active, pods []*corev1.Pod, now time.Time) ([]*corev1.Pod, int, error) {
	want := wantActive(job, job.Status.Succeeded, int32(len(active)))
	var excess []*corev1.Pod
	if isIndexed(job) {
		// Duplicates of an index and indexes already done go first.
		done := parseIndexes(job.Status.CompletedIndexes, completions(job))
		seen := sets.New[int]()
		var keep []*corev1.Pod
		for _, p := range active {
			i := podIndex(p)
			if i < 0 || i >= int(completions(job)) || done.Has(i) || seen.Has(i) {
				excess = append(excess, p)
				continue
			}
			seen.Insert(i)
			keep = append(keep, p)
		}
		active = keep
	}
	if n := len(active) - int(want); n > 0 {
		sortForDeletion(active)
		excess = append(excess, active[:n]...)
		active = active[n:]
	}
	if len(excess) > 0 {
		return active, 0, c.deletePods(ctx, key, job, excess)
	}
	diff := int(want) - len(active)
	if diff <= 0 {
		return active, 0, nil
	}
	if n, last := failuresSinceSuccess(pods); n > 0 {
		if wait := backoffDelay(n) - now.Sub(last); wait > 0 {
			c.queue.AddAfter(key, wait)
			return active, 0, nil
		}
	}
	diff = min(diff, burstReplicas)
	var indexes []int
	if isIndexed(job) {
		indexes = pendingIndexes(completions(job), parseIndexes(job.Status.CompletedIndexes, completions(job)), active, diff)
		diff = len(indexes)
	}
	c.exp.ExpectCreations(key, diff)
	ref := ctrlutil.NewControllerRef(job, kind)
	var mu sync.Mutex
	next := 0
	ok, err := ctrlutil.SlowStartBatch(diff, ctrlutil.SlowStartInitialBatch, func() error {
		idx := -1
		if indexes != nil {
			mu.Lock()
			idx = indexes[next]
			next++
			mu.Unlock()
		}
		_, err := c.podControl.CreatePod(ctx, job.Namespace, &job.Spec.Template, job, ref, func(p *corev1.Pod) { decoratePod(job, p, idx) })
		if apierrors.IsTimeout(err) {
			return nil
		}
		return err
	})
	for i := ok; i < diff; i++ {
		c.exp.CreationObserved(key)
	}
	return active, ok, err
}

// decoratePod adds what a Job's pod carries beyond its template: the
// tracking finalizer, the job labels, and for Indexed Jobs the completion
// index (annotation, label, env JOB_COMPLETION_INDEX, hostname).
func decoratePod(job *batchv1.Job, p *corev1.Pod, idx int) {
	p.Finalizers = append(p.Finalizers, batchv1.JobTrackingFinalizer)
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	if _, ok := p.Labels[batchv1.ControllerUidLabel]; !ok && job.Spec.Selector == nil {
		p.Labels[batchv1.ControllerUidLabel] = string(job.UID)
	}
	if idx < 0 {
		return
	}
	s := strconv.Itoa(idx)
	p.GenerateName = fmt.Sprintf("%s-%d-", job.Name, idx)
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[batchv1.JobCompletionIndexAnnotation] = s
	p.Labels[batchv1.JobCompletionIndexAnnotation] = s
	if p.Spec.Hostname == "" {
		p.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, idx)
	}
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)},
	}}
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].Env = append(p.Spec.InitContainers[i].Env, env)
	}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].Env = append(p.Spec.Containers[i].Env, env)
	}
}

// sortForDeletion puts the cheapest pods to kill first: unscheduled, not
// ready, newest.
func sortForDeletion(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if ra, rb := ctrlutil.IsPodReady(a), ctrlutil.IsPodReady(b); ra != rb {
			return !ra
		}
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	})
}

// deletePods deletes pods the Job no longer wants. Their finalizer goes
// first: pods the controller removes don't count as failures.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	if len(pods) == 0 {
		return nil
	}
	if err := c.removeFinalizers(ctx, withFinalizer(pods)); err != nil {
		return err
	}
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.exp.ExpectDeletions(key, uids)
	var firstErr error
	for _, p := range pods {
		if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, job); err != nil {
			c.exp.DeletionObserved(key, p.UID)
			if !apierrors.IsNotFound(err) && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, fmt.Errorf("update status of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return updated, nil
}

func (c *Controller) writeStatus(ctx context.Context, cached, job *batchv1.Job) error {
	if apiequality.Semantic.DeepEqual(cached.Status, job.Status) {
		return nil
	}
	_, err := c.updateStatus(ctx, job)
	return err
}
