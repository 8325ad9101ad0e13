// Package serviceaccount makes sure every active namespace has the
// "default" ServiceAccount (upstream's serviceaccounts-controller) and,
// when given the cluster CA, the "kube-root-ca.crt" ConfigMap that pods'
// projected service-account volumes mount (upstream's root-ca-cert-publisher).
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager = "berth-serviceaccount"
	// DefaultName is the ServiceAccount every namespace gets.
	DefaultName = "default"
	// RootCAConfigMap holds the cluster CA under the key "ca.crt".
	RootCAConfigMap = "kube-root-ca.crt"
)

// Controller keeps the per-namespace defaults.
type Controller struct {
	client kubernetes.Interface
	ns     corelisters.NamespaceLister
	sa     corelisters.ServiceAccountLister
	cm     corelisters.ConfigMapLister
	rootCA []byte
	queue  workqueue.TypedRateLimitingInterface[string]
	synced []cache.InformerSynced
	log    *slog.Logger
}

// New returns the controller; rootCA (PEM) may be nil to skip the ConfigMap.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rootCA []byte, log *slog.Logger) (*Controller, error) {
	core := inf.Core().V1()
	c := &Controller{
		client: client,
		ns:     core.Namespaces().Lister(),
		sa:     core.ServiceAccounts().Lister(),
		cm:     core.ConfigMaps().Lister(),
		rootCA: rootCA,
		queue:  ctrlutil.NewQueue("serviceaccount"),
		log:    log.With("component", "serviceaccount"),
	}
	byNamespace := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			c.queue.Add(m.GetNamespace())
		}
	}
	if _, err := core.Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.queue.Add(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, cur any) { c.queue.Add(cur.(*corev1.Namespace).Name) },
	}); err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	if _, err := core.ServiceAccounts().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: byNamespace}); err != nil {
		return nil, fmt.Errorf("watch serviceaccounts: %w", err)
	}
	c.synced = []cache.InformerSynced{core.Namespaces().Informer().HasSynced, core.ServiceAccounts().Informer().HasSynced}
	if rootCA != nil {
		if _, err := core.ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(_, cur any) { byNamespace(cur) },
			DeleteFunc: byNamespace,
		}); err != nil {
			return nil, fmt.Errorf("watch configmaps: %w", err)
		}
		c.synced = append(c.synced, core.ConfigMaps().Informer().HasSynced)
	}
	return c, nil
}

// Run syncs with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.ns.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		return nil // creates would be refused; the namespace is going
	}
	if _, err := c.sa.ServiceAccounts(name).Get(DefaultName); apierrors.IsNotFound(err) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: name}}
		_, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create default service account in %s: %w", name, err)
		}
	}
	if c.rootCA == nil {
		return nil
	}
	cm, err := c.cm.ConfigMaps(name).Get(RootCAConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: name,
				Annotations: map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
			Data: map[string]string{"ca.crt": string(c.rootCA)},
		}
		if _, err := c.client.CoreV1().ConfigMaps(name).Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s in %s: %w", RootCAConfigMap, name, err)
		}
	case err != nil:
		return err
	case cm.Data["ca.crt"] != string(c.rootCA):
		cm = cm.DeepCopy()
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data["ca.crt"] = string(c.rootCA)
		if _, err := c.client.CoreV1().ConfigMaps(name).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("update %s in %s: %w", RootCAConfigMap, name, err)
		}
	}
	return nil
}
