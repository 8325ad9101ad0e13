// Package endpoints is the Endpoints controller: it keeps one core/v1
// Endpoints object per Service with a selector, listing the pods the
// selector matches, with ready and not-ready addresses following each
// pod's Ready condition. It mirrors upstream's pkg/controller/endpoint
// (without the 1000-address truncation); the code is berth's own.
//
// Services without a selector keep whatever Endpoints their owner writes
// (the API server writes the `kubernetes` Service's).
package endpoints

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
	"github.com/berth-dev/berth/internal/controller/endpoints/podsvc"
)

// headlessLabel marks Endpoints of a headless Service, as upstream does.
const headlessLabel = "service.kubernetes.io/headless"

// Controller syncs Endpoints from Services and pods.
type Controller struct {
	kube      kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// New registers the controller's handlers on the informers; start the
// informers' factory before Run.
func New(kube kubernetes.Interface, svcs coreinformers.ServiceInformer, pods coreinformers.PodInformer,
	eps coreinformers.EndpointsInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		kube:      kube,
		services:  svcs.Lister(),
		pods:      pods.Lister(),
		endpoints: eps.Lister(),
		synced:    []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, eps.Informer().HasSynced},
		queue:     ctrlutil.NewQueue("endpoints"),
		log:       log,
	}
	if err := podsvc.Watch(c.queue, svcs, pods, log); err != nil {
		return nil, err
	}
	// An Endpoints edited or deleted by someone else is put back; our own
	// create arriving resyncs a Service whose sync raced it (see sync).
	if _, err := eps.Informer().AddEventHandler(podsvc.EnqueueHandler(c.queue, log)); err != nil {
		return nil, fmt.Errorf("watch endpoints: %w", err)
	}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key will never sync
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteOrphan(ctx, ns, name)
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	if !podsvc.Managed(svc) {
		return nil
	}
	pods, err := podsvc.Pods(c.pods, svc)
	if err != nil {
		return err
	}
	want := desired(svc, pods)
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.kube.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{FieldManager: "berth-endpoints"})
		if apierrors.IsAlreadyExists(err) {
			// The cache has not seen an earlier create yet; its add event
			// requeues the Service, which then updates.
			c.log.Debug("endpoints exist but are not cached yet", "key", key)
			return nil
		}
		if err != nil {
			return fmt.Errorf("create endpoints %s: %w", key, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get endpoints %s: %w", key, err)
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets, upd.Labels = want.Subsets, want.Labels
	if _, err := c.kube.CoreV1().Endpoints(ns).Update(ctx, upd, metav1.UpdateOptions{FieldManager: "berth-endpoints"}); err != nil {
		return fmt.Errorf("update endpoints %s: %w", key, err)
	}
	return nil
}

// deleteOrphan removes the Endpoints of a deleted Service, except the
// `kubernetes` Service's, which belongs to the API server.
func (c *Controller) deleteOrphan(ctx context.Context, ns, name string) error {
	if ns == metav1.NamespaceDefault && name == "kubernetes" {
		return nil
	}
	if _, err := c.endpoints.Endpoints(ns).Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	err := c.kube.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}

// desired is the whole Endpoints object svc should have.
func desired(svc *corev1.Service, pods []*corev1.Pod) *corev1.Endpoints {
	lbls := map[string]string{}
	for k, v := range svc.Labels {
		lbls[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		lbls[headlessLabel] = ""
	} else {
		delete(lbls, headlessLabel)
	}
	if len(lbls) == 0 {
		lbls = nil
	}
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: lbls},
		Subsets:    desiredSubsets(svc, pods),
	}
}
