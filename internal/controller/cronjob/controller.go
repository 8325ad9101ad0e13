// Package cronjob starts Jobs on a cron schedule: standard syntax and
// @hourly-style descriptors, timeZone, concurrencyPolicy
// Allow/Forbid/Replace, startingDeadlineSeconds, suspend, the successful
// and failed history limits, status.active, lastScheduleTime and
// lastSuccessfulTime.
//
// Semantics follow upstream's pkg/controller/cronjob (cronjob_controllerv2.go,
// utils.go): level-triggered, each sync requeues itself with AddAfter for
// the next schedule instead of polling.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager = "berth-cronjob"
	// scheduledAnnotation records on each Job the time it was scheduled for.
	scheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"
)

var kind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller syncs CronJobs.
type Controller struct {
	client    kubernetes.Interface
	cjLister  batchlisters.CronJobLister
	jobLister batchlisters.JobLister
	recorder  record.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string]
	clock     clock.Clock
	log       *slog.Logger
	synced    []cache.InformerSynced
}

// New returns the CronJob controller registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	b := inf.Batch().V1()
	c := &Controller{
		client:    client,
		cjLister:  b.CronJobs().Lister(),
		jobLister: b.Jobs().Lister(),
		recorder:  rec,
		queue:     ctrlutil.NewQueue("cronjob"),
		clock:     clock.RealClock{},
		log:       log.With("component", "cronjob"),
	}
	if _, err := b.CronJobs().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch cronjobs: %w", err)
	}
	if _, err := b.Jobs().Informer().AddEventHandler(ctrlutil.EnqueueController(c.queue, kind)); err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	c.synced = []cache.InformerSynced{b.CronJobs().Informer().HasSynced, b.Jobs().Informer().HasSynced}
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

func jobFinished(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.cjLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cj := cached.DeepCopy()
	all, err := c.jobLister.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOfNoCopy(j); ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, j)
		}
	}
	now := c.clock.Now()
	c.syncActive(cj, jobs)
	if err := c.cleanupHistory(ctx, cj, jobs); err != nil {
		return err
	}
	requeue, syncErr := c.schedule(ctx, cj, jobs, now)
	if !apiequality.Semantic.DeepEqual(cached.Status, cj.Status) {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("update status of cronjob %s: %w", key, err)
		}
	}
	if syncErr != nil {
		return syncErr
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

// syncActive makes status.active list exactly the unfinished Jobs and
// records lastSuccessfulTime.
func (c *Controller) syncActive(cj *batchv1.CronJob, jobs []*batchv1.Job) {
	byUID := map[string]*batchv1.Job{}
	for _, j := range jobs {
		byUID[string(j.UID)] = j
	}
	var active []corev1.ObjectReference
	for _, ref := range cj.Status.Active {
		j, ok := byUID[string(ref.UID)]
		if !ok {
			continue // deleted
		}
		if done, t := jobFinished(j); done {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, t)
			continue
		}
		active = append(active, ref)
	}
	listed := map[string]bool{}
	for _, r := range active {
		listed[string(r.UID)] = true
	}
	for _, j := range jobs {
		done, t := jobFinished(j)
		if !done && !listed[string(j.UID)] {
			active = append(active, jobRef(j))
		}
		if t == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			ct := *j.Status.CompletionTime
			cj.Status.LastSuccessfulTime = &ct
		}
	}
	cj.Status.Active = active
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID,
		APIVersion: "batch/v1", ResourceVersion: j.ResourceVersion}
}

// cleanupHistory deletes the oldest finished Jobs beyond the history limits.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch _, t := jobFinished(j); t {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	limit := func(p *int32, def int32) int32 {
		if p == nil {
			return def
		}
		return *p
	}
	return errors.Join(
		c.removeOldest(ctx, cj, succeeded, limit(cj.Spec.SuccessfulJobsHistoryLimit, 3)),
		c.removeOldest(ctx, cj, failed, limit(cj.Spec.FailedJobsHistoryLimit, 1)),
	)
}

func (c *Controller) removeOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int32) error {
	if int32(len(jobs)) <= keep {
		return nil
	}
	sort.SliceStable(jobs, func(i, j int) bool {
		a, b := jobs[i].Status.StartTime, jobs[j].Status.StartTime
		switch {
		case a == nil && b != nil:
			return false
		case a != nil && b == nil:
			return true
		case a != nil && b != nil && !a.Equal(b):
			return a.Before(b)
		}
		return jobs[i].Name < jobs[j].Name
	})
	for _, j := range jobs[:len(jobs)-int(keep)] {
		if err := c.deleteJob(ctx, cj, j); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job) error {
	bg := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &j.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("delete job %s: %w", j.Name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", j.Name)
	return nil
}

// schedule starts the Job for the most recent missed schedule time, if
// due and allowed, and returns when to look again.
func (c *Controller) schedule(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, now time.Time) (time.Duration, error) {
	if cj.DeletionTimestamp != nil {
		return 0, nil
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		// A retry can't fix the schedule; the next edit of the CronJob requeues it.
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return 0, nil
	}
	next := nextScheduleDelay(sched, now)
	scheduled, err := mostRecentScheduleTime(cj, sched, now)
	switch {
	case errors.Is(err, errTooManyMissed):
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	if scheduled == nil {
		return next, nil
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil && scheduled.Add(time.Duration(*sds)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next, nil
	}
	name := jobName(cj, *scheduled)
	for _, ref := range cj.Status.Active {
		if ref.Name == name {
			return next, nil
		}
	}
	if cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: *scheduled}) {
		return next, nil
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case batchv1.ReplaceConcurrent:
		byUID := map[string]*batchv1.Job{}
		for _, j := range jobs {
			byUID[string(j.UID)] = j
		}
		for _, ref := range cj.Status.Active {
			if j, ok := byUID[string(ref.UID)]; ok {
				if err := c.deleteJob(ctx, cj, j); err != nil {
					return 0, err
				}
			}
		}
		cj.Status.Active = nil
	}
	job := jobFromTemplate(cj, *scheduled)
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Created by an earlier sync whose status write was lost.
		existing, gerr := c.jobLister.Jobs(cj.Namespace).Get(name)
		if gerr != nil {
			return 0, fmt.Errorf("job %s exists but can't be read: %w", name, gerr)
		}
		if ref := metav1.GetControllerOfNoCopy(existing); ref == nil || ref.UID != cj.UID {
			return next, nil
		}
		created = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return 0, fmt.Errorf("create job %s: %w", name, err)
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	if done, _ := jobFinished(created); !done {
		cj.Status.Active = append(cj.Status.Active, jobRef(created))
	}
	t := metav1.NewTime(*scheduled)
	cj.Status.LastScheduleTime = &t
	return next, nil
}

// jobFromTemplate builds the Job for one schedule time.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := tmpl.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	loc := time.Local
	if cj.Spec.TimeZone != nil {
		if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			loc = l
		}
	}
	annotations[scheduledAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          tmpl.Labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*ctrlutil.NewControllerRef(cj, kind)},
		},
		Spec: tmpl.Spec,
	}
}
