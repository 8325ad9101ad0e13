// Package namespace empties namespaces that are being deleted: it marks
// them Terminating, deletes every object of every namespaced kind the API
// server serves (found through discovery at each sync, so kinds added
// later are covered), and once nothing is left removes the "kubernetes"
// finalizer through the namespaces/NAME/finalize subresource, which lets
// the API server delete the namespace.
//
// Semantics follow upstream's pkg/controller/namespace
// (deletion/namespaced_resources_deleter.go), including the condition
// types and reasons `kubectl describe namespace` shows.
package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const fieldManager = "berth-namespace"

// recheck is how soon a namespace whose content is still going is looked
// at again (pods wait for their grace period on the node).
const recheck = 2 * time.Second

// ResourceDiscoverer is the part of discovery the controller uses
// (discovery.DiscoveryInterface has it).
type ResourceDiscoverer interface {
	ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error)
}

// Controller is the namespace deletion controller.
type Controller struct {
	client kubernetes.Interface
	md     metadata.Interface
	disco  ResourceDiscoverer
	lister corelisters.NamespaceLister
	queue  workqueue.TypedRateLimitingInterface[string]
	synced cache.InformerSynced
	clock  clock.Clock
	log    *slog.Logger
}

// New returns the namespace controller registered with inf's informers.
func New(client kubernetes.Interface, md metadata.Interface, disco ResourceDiscoverer, inf informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	nsInf := inf.Core().V1().Namespaces()
	c := &Controller{
		client: client, md: md, disco: disco,
		lister: nsInf.Lister(),
		queue:  ctrlutil.NewQueue("namespace"),
		synced: nsInf.Informer().HasSynced,
		clock:  clock.RealClock{},
		log:    log.With("component", "namespace"),
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	return c, nil
}

// Run syncs with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	cached, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cached.DeletionTimestamp == nil || !slices.Contains(cached.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return c.deleteIfFinalized(ctx, cached)
	}
	ns := cached.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating

	resources, discoErr := c.namespacedResources()
	remaining, deleteErrs := c.deleteContent(ctx, name, resources)
	conds := conditions(discoErr, deleteErrs, remaining, c.clock.Now())
	for _, cond := range conds {
		setCondition(&ns.Status, cond)
	}
	if !apiequality.Semantic.DeepEqual(ns.Status, cached.Status) {
		if ns, err = c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("update status of namespace %s: %w", name, err)
		}
	}
	if discoErr != nil || len(deleteErrs) > 0 {
		return fmt.Errorf("delete content of namespace %s: %v %v", name, discoErr, deleteErrs)
	}
	if len(remaining) > 0 {
		c.log.Debug("content remaining", "namespace", name, "remaining", remaining)
		c.queue.AddAfter(name, recheck)
		return nil
	}
	return c.finalize(ctx, ns)
}

// namespacedResources lists the preferred version of every namespaced
// kind that supports list and delete. A partial discovery failure is
// returned along with the resources that were found.
func (c *Controller) namespacedResources() ([]gvrVerbs, error) {
	lists, err := c.disco.ServerPreferredNamespacedResources()
	var out []gvrVerbs
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			verbs := sets.New(r.Verbs...)
			if strings.Contains(r.Name, "/") || !verbs.HasAll("list", "delete") {
				continue
			}
			out = append(out, gvrVerbs{gvr: gv.WithResource(r.Name), deleteCollection: verbs.Has("deletecollection")})
		}
	}
	return out, err
}

type gvrVerbs struct {
	gvr              schema.GroupVersionResource
	deleteCollection bool
}

// deleteContent deletes everything in namespace and returns how many
// objects of each resource are still there.
func (c *Controller) deleteContent(ctx context.Context, namespace string, resources []gvrVerbs) (map[string]int, []error) {
	remaining := map[string]int{}
	var errs []error
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	for _, r := range resources {
		cl := c.md.Resource(r.gvr).Namespace(namespace)
		deleted := false
		if r.deleteCollection {
			err := cl.DeleteCollection(ctx, opts, metav1.ListOptions{})
			switch {
			case err == nil:
				deleted = true
			case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			default:
				errs = append(errs, fmt.Errorf("delete %s: %w", r.gvr.Resource, err))
				continue
			}
		}
		list, err := cl.List(ctx, metav1.ListOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				errs = append(errs, fmt.Errorf("list %s: %w", r.gvr.Resource, err))
			}
			continue
		}
		for _, item := range list.Items {
			if !deleted && item.DeletionTimestamp == nil {
				if err := cl.Delete(ctx, item.Name, opts); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("delete %s %s: %w", r.gvr.Resource, item.Name, err))
				}
			}
			remaining[gr(r.gvr)]++
		}
	}
	return remaining, errs
}

func gr(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource + "."
	}
	return gvr.Resource + "." + gvr.Group
}

// conditions are the five deletion conditions upstream reports, computed
// from this round's outcome.
func conditions(discoErr error, deleteErrs []error, remaining map[string]int, now time.Time) []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, failed bool, failReason, okReason, msg string) corev1.NamespaceCondition {
		c := corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReason, Message: "All " + strings.ToLower(okMsg[okReason]), LastTransitionTime: metav1.NewTime(now)}
		if failed {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, failReason, msg
		}
		return c
	}
	discoMsg, contentMsg := "", ""
	if discoErr != nil {
		discoMsg = "Discovery failed for some groups: " + discoErr.Error()
	}
	if len(deleteErrs) > 0 {
		var s []string
		for _, e := range deleteErrs {
			s = append(s, e.Error())
		}
		contentMsg = "Failed to delete all resource types, " + fmt.Sprint(len(deleteErrs)) + " remaining: " + strings.Join(s, ", ")
	}
	var names []string
	for k, n := range remaining {
		names = append(names, fmt.Sprintf("%s has %d resource instances", k, n))
	}
	sort.Strings(names)
	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, discoErr != nil, "DiscoveryFailed", "ResourcesDiscovered", discoMsg),
		cond(corev1.NamespaceDeletionGVParsingFailure, false, "GroupVersionParsingFailed", "ParsedGroupVersions", ""),
		cond(corev1.NamespaceDeletionContentFailure, len(deleteErrs) > 0, "ContentDeletionFailed", "ContentDeleted", contentMsg),
		cond(corev1.NamespaceContentRemaining, len(remaining) > 0, "SomeResourcesRemain", "ContentRemoved", "Some resources are remaining: "+strings.Join(names, ", ")),
		cond(corev1.NamespaceFinalizersRemaining, false, "SomeFinalizersRemain", "ContentHasNoFinalizers", ""),
	}
}

var okMsg = map[string]string{
	"ResourcesDiscovered":    "resources successfully discovered",
	"ParsedGroupVersions":    "legacy kube types successfully parsed",
	"ContentDeleted":         "content successfully deleted, may be waiting on finalization",
	"ContentRemoved":         "content successfully removed",
	"ContentHasNoFinalizers": "content-preserving finalizers finished",
}

func setCondition(st *corev1.NamespaceStatus, c corev1.NamespaceCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type != c.Type {
			continue
		}
		if st.Conditions[i].Status == c.Status && st.Conditions[i].Reason == c.Reason && st.Conditions[i].Message == c.Message {
			return
		}
		st.Conditions[i] = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}

// finalize removes the "kubernetes" finalizer through the finalize
// subresource, falling back to a plain update if the server doesn't serve it.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	ns = ns.DeepCopy()
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	updated, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		c.log.Warn("namespaces/finalize not served, updating spec.finalizers instead", "namespace", ns.Name, "err", err)
		updated, err = c.client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	c.log.Info("namespace emptied and finalized", "namespace", ns.Name)
	return c.deleteIfFinalized(ctx, updated)
}

// deleteIfFinalized deletes again a deleting namespace that has no
// finalizers left, in case the server kept it after the finalize call
// (upstream's server removes it during that update).
func (c *Controller) deleteIfFinalized(ctx context.Context, ns *corev1.Namespace) error {
	if ns.DeletionTimestamp == nil || len(ns.Spec.Finalizers) > 0 || len(ns.Finalizers) > 0 {
		return nil
	}
	uid := ns.UID
	err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete finalized namespace %s: %w", ns.Name, err)
	}
	return nil
}
