package ctrlutil

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NewQueue returns the rate-limited queue of namespace/name keys every
// controller uses: per-key exponential back-off on errors, an overall token
// bucket, as upstream's DefaultTypedControllerRateLimiter.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name},
	)
}

// Worker runs a sync function over a queue in the sample-controller shape.
type Worker struct {
	Queue workqueue.TypedRateLimitingInterface[string]
	Sync  func(ctx context.Context, key string) error
	Log   *slog.Logger
}

// Run waits for the informers in synced, then runs n workers until ctx is
// done. It shuts the queue down on return, which ends the workers.
func (w *Worker) Run(ctx context.Context, n int, synced ...cache.InformerSynced) error {
	defer w.Queue.ShutDown()
	w.Log.Info("starting")
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("wait for caches: %w", ctx.Err())
	}
	w.Log.Info("caches synced", "workers", n)
	for i := 0; i < n; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for w.processNext(ctx) {
			}
		}, time.Second)
	}
	<-ctx.Done()
	w.Log.Info("shutting down")
	return nil
}

func (w *Worker) processNext(ctx context.Context) bool {
	key, quit := w.Queue.Get()
	if quit {
		return false
	}
	defer w.Queue.Done(key)
	if err := w.Sync(ctx, key); err != nil {
		w.Log.Error("sync failed, will retry", "key", key, "err", err)
		w.Queue.AddRateLimited(key) // back-off per key, no hot loop
		return true
	}
	w.Queue.Forget(key)
	return true
}

// KeyOf returns the namespace/name key of obj, unwrapping tombstones.
func KeyOf(obj any) (string, bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	return key, err == nil
}

// EnqueueController returns handlers that add, for every child object
// (tombstones unwrapped), the key of its controller of kind gvk. For owners
// that need no expectations bookkeeping on their children's events.
func EnqueueController(queue workqueue.TypedInterface[string], gvk schema.GroupVersionKind) cache.ResourceEventHandlerFuncs {
	changed := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			if key, _, ok := ControllerKey(m, gvk); ok {
				queue.Add(key)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: changed, UpdateFunc: func(_, cur any) { changed(cur) }, DeleteFunc: changed}
}
