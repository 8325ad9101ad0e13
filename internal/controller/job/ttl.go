package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

// TTLController deletes finished Jobs ttlSecondsAfterFinished after they
// finished (upstream pkg/controller/ttlafterfinished), in the foreground
// so their pods go first.
type TTLController struct {
	client kubernetes.Interface
	lister batchlisters.JobLister
	queue  workqueue.TypedRateLimitingInterface[string]
	synced cache.InformerSynced
	clock  clock.Clock
	log    *slog.Logger
}

// NewTTL returns the TTL-after-finished controller.
func NewTTL(client kubernetes.Interface, inf informers.SharedInformerFactory, log *slog.Logger) (*TTLController, error) {
	jobs := inf.Batch().V1().Jobs()
	c := &TTLController{
		client: client,
		lister: jobs.Lister(),
		queue:  ctrlutil.NewQueue("ttl_jobs_to_delete"),
		synced: jobs.Informer().HasSynced,
		clock:  clock.RealClock{},
		log:    log.With("component", "ttlafterfinished"),
	}
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && j.DeletionTimestamp == nil && j.Spec.TTLSecondsAfterFinished != nil && finished(j) {
			if key, ok := ctrlutil.KeyOf(j); ok {
				c.queue.Add(key)
			}
		}
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	return c, nil
}

// Run syncs with workers goroutines until ctx is done.
func (c *TTLController) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced)
}

// timeLeft is how long until j expires; an error if it has no TTL or
// hasn't finished.
func timeLeft(j *batchv1.Job, now time.Time) (time.Duration, error) {
	if j.Spec.TTLSecondsAfterFinished == nil {
		return 0, fmt.Errorf("job %s/%s has no TTL", j.Namespace, j.Name)
	}
	var at time.Time
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			at = c.LastTransitionTime.Time
		}
	}
	if at.IsZero() {
		return 0, fmt.Errorf("job %s/%s hasn't finished", j.Namespace, j.Name)
	}
	return at.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now), nil
}

func (c *TTLController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	j, err := c.lister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if left, err := timeLeft(j, c.clock.Now()); err != nil || left > 0 {
		if err == nil {
			c.queue.AddAfter(key, left)
		}
		return nil
	}
	// The cache may be stale (the TTL may have been changed): check fresh.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if left, err := timeLeft(fresh, c.clock.Now()); err != nil || left > 0 {
		if err == nil {
			c.queue.AddAfter(key, left)
		}
		return nil
	}
	fg := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &fg,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	c.log.Debug("deleted expired job", "key", key)
	return nil
}
