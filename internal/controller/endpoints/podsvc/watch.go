package podsvc

import (
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Watch drives a per-Service controller from its informers: every Service
// change, and for every pod change the Services that select the pod before
// or after it, become Service keys on queue. The Endpoints and EndpointSlice
// controllers both work this way.
func Watch(queue workqueue.TypedInterface[string], svcs coreinformers.ServiceInformer, pods coreinformers.PodInformer, log *slog.Logger) error {
	if _, err := svcs.Informer().AddEventHandler(EnqueueHandler(queue, log)); err != nil {
		return fmt.Errorf("watch services: %w", err)
	}
	lister := svcs.Lister()
	podChanged := func(old, cur any) {
		keys, err := ChangedPodKeys(lister, asPod(old), asPod(cur))
		if err != nil {
			log.Error("map pod to services", "err", err)
			return
		}
		for _, k := range keys {
			queue.Add(k)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { podChanged(nil, obj) },
		UpdateFunc: podChanged,
		DeleteFunc: func(obj any) { podChanged(obj, nil) },
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	return nil
}

// EnqueueHandler adds the namespace/name key of every object it sees,
// deletion tombstones included, to queue.
func EnqueueHandler(queue workqueue.TypedInterface[string], log *slog.Logger) cache.ResourceEventHandlerFuncs {
	add := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			log.Warn("cannot key object", "err", err)
			return
		}
		queue.Add(key)
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, cur any) { add(cur) }, DeleteFunc: add}
}

// asPod unwraps informer objects, including deletion tombstones.
func asPod(obj any) *corev1.Pod {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, _ := obj.(*corev1.Pod)
	return p
}
