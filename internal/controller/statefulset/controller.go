// Package statefulset gives each StatefulSet replica a stable identity:
// pods named <set>-<ordinal> with hostname and subdomain, a
// PersistentVolumeClaim per volumeClaimTemplate (<template>-<pod>) that
// outlives the pod, creation in ordinal order waiting for readiness
// (OrderedReady) or all at once (Parallel), removal from the highest
// ordinal, and RollingUpdate (highest ordinal first, down to the
// partition) or OnDelete, tracked with ControllerRevisions.
//
// Semantics follow upstream's pkg/controller/statefulset
// (stateful_set_control.go, stateful_set_utils.go), without
// maxUnavailable and PVC retention policies (claims are always retained).
package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const fieldManager = "berth-statefulset"

var kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller syncs StatefulSets.
type Controller struct {
	client    kubernetes.Interface
	setLister appslisters.StatefulSetLister
	crLister  appslisters.ControllerRevisionLister
	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	recorder  record.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string]
	clock     clock.Clock
	log       *slog.Logger
	synced    []cache.InformerSynced
}

// New returns the StatefulSet controller registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	apps, core := inf.Apps().V1(), inf.Core().V1()
	c := &Controller{
		client:    client,
		setLister: apps.StatefulSets().Lister(),
		crLister:  apps.ControllerRevisions().Lister(),
		podLister: core.Pods().Lister(),
		pvcLister: core.PersistentVolumeClaims().Lister(),
		recorder:  rec,
		queue:     ctrlutil.NewQueue("statefulset"),
		clock:     clock.RealClock{},
		log:       log.With("component", "statefulset"),
	}
	if _, err := apps.StatefulSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch statefulsets: %w", err)
	}
	if _, err := core.Pods().Informer().AddEventHandler(ctrlutil.EnqueueController(c.queue, kind)); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{apps.StatefulSets().Informer().HasSynced, apps.ControllerRevisions().Informer().HasSynced,
		core.Pods().Informer().HasSynced, core.PersistentVolumeClaims().Informer().HasSynced}
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

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// ordinalOf parses <set>-<ordinal>; -1 if pod isn't named like one of set's.
func ordinalOf(set *appsv1.StatefulSet, pod *corev1.Pod) int {
	rest, ok := strings.CutPrefix(pod.Name, set.Name+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return -1
	}
	return n
}

func claimName(tmpl *corev1.PersistentVolumeClaim, podName string) string {
	return tmpl.Name + "-" + podName
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// newPod builds the pod for ordinal from template (the template of the
// revision it should run), with its identity and claims.
func newPod(set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, revisionHash string, ordinal int) *corev1.Pod {
	pod := ctrlutil.PodFromTemplate(template, ctrlutil.NewControllerRef(set, kind))
	name := podName(set, ordinal)
	pod.GenerateName = ""
	pod.Name = name
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = revisionHash
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		vol := corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(tmpl, name)}}}
		replaced := false
		for j := range pod.Spec.Volumes {
			if pod.Spec.Volumes[j].Name == tmpl.Name {
				pod.Spec.Volumes[j] = vol
				replaced = true
			}
		}
		if !replaced {
			pod.Spec.Volumes = append(pod.Spec.Volumes, vol)
		}
	}
	return pod
}

func isHealthy(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && ctrlutil.IsPodReady(p) && p.DeletionTimestamp == nil
}

func isFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
}

// action is one step sync takes.
type action struct {
	create  int // ordinal to create, -1 for none
	deletes []*corev1.Pod
}

// plan decides the next steps from the pods (pure; upstream
// stateful_set_control.go updateStatefulSet): replace finished pods,
// create missing ones, remove condemned ones from the top, then roll out
// updates from the top down to the partition, one pod at a time, and
// with OrderedReady only while every other pod is healthy.
func plan(set *appsv1.StatefulSet, pods []*corev1.Pod, updateHash string) (creates []int, deletes []*corev1.Pod) {
	start, n := startOrdinal(set), replicas(set)
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	byOrd := map[int]*corev1.Pod{}
	var condemned []*corev1.Pod
	for _, p := range pods {
		o := ordinalOf(set, p)
		if o >= start && o < start+n {
			byOrd[o] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(set, condemned[i]) > ordinalOf(set, condemned[j]) })
	for o := start; o < start+n; o++ {
		p := byOrd[o]
		switch {
		case p == nil:
			creates = append(creates, o)
			if !parallel {
				return creates, deletes
			}
		case isFinished(p) && p.DeletionTimestamp == nil:
			deletes = append(deletes, p)
			if !parallel {
				return creates, deletes
			}
		case !parallel && !isHealthy(p):
			return creates, deletes // wait for it before the next ordinal
		}
	}
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if !parallel {
				return creates, deletes
			}
			continue
		}
		deletes = append(deletes, p)
		if !parallel {
			return creates, deletes
		}
	}
	if len(creates) > 0 || len(deletes) > 0 || set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return creates, deletes
	}
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for o := start + n - 1; o >= start && o >= partition; o-- {
		p := byOrd[o]
		if p == nil || p.DeletionTimestamp != nil {
			return creates, deletes // one update at a time
		}
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] != updateHash {
			for _, q := range byOrd {
				if q != p && !isHealthy(q) {
					return creates, deletes
				}
			}
			return creates, append(deletes, p)
		}
		if !isHealthy(p) {
			return creates, deletes
		}
	}
	return creates, deletes
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "SelectingAll", "This statefulset is selecting all pods. A non-empty selector is required.")
		return nil
	}
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, sel, all)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, p := range pods {
		keep[p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
	}
	limit := int32(10)
	if set.Spec.RevisionHistoryLimit != nil {
		limit = *set.Spec.RevisionHistoryLimit
	}
	update, revs, err := ctrlutil.SyncRevisions(ctx, c.client, c.crLister, ctrlutil.RevisionOwner{
		Object: set, GVK: kind, Selector: sel, Template: &set.Spec.Template,
		CollisionCount: set.Status.CollisionCount, HistoryLimit: limit, FieldManager: fieldManager,
		BumpCollision: func(ctx context.Context) error {
			cp := set.DeepCopy()
			if cp.Status.CollisionCount == nil {
				cp.Status.CollisionCount = new(int32)
			}
			*cp.Status.CollisionCount++
			_, err := c.client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager})
			return err
		},
	}, keep)
	if err != nil {
		return err
	}
	current := update
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	var syncErr error
	if set.DeletionTimestamp == nil {
		syncErr = c.act(ctx, set, pods, update, current)
	}
	return c.updateStatus(ctx, cached, set, pods, current, update, syncErr)
}

// templateFor is the revision a new pod at ordinal runs: below the
// partition (RollingUpdate) the current one, else the update revision.
func templateFor(set *appsv1.StatefulSet, ordinal int, current, update *appsv1.ControllerRevision) *appsv1.ControllerRevision {
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && ordinal < int(*ru.Partition) {
			return current
		}
	}
	return update
}

func (c *Controller) act(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, update, current *appsv1.ControllerRevision) error {
	creates, deletes := plan(set, pods, update.Labels[appsv1.ControllerRevisionHashLabelKey])
	for _, o := range creates {
		rev := templateFor(set, o, current, update)
		tmpl, err := ctrlutil.RevisionTemplate(rev)
		if err != nil {
			return err
		}
		pod := newPod(set, tmpl, rev.Labels[appsv1.ControllerRevisionHashLabelKey], o)
		if err := c.createClaims(ctx, set, pod.Name); err != nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
			return err
		}
		if _, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue // the informer will show it
			}
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	}
	for _, p := range deletes {
		uid := p.UID
		if err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
			return fmt.Errorf("delete pod %s: %w", p.Name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	}
	return nil
}

// createClaims makes the pod's PVCs that don't exist yet. They carry the
// set's selector labels but no owner: they outlive the pod and the set.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod string) error {
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		name := claimName(tmpl, pod)
		if _, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(name); err == nil {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: set.Namespace,
				Labels: labels.Merge(tmpl.Labels, set.Spec.Selector.MatchLabels), Annotations: tmpl.Annotations},
			Spec: *tmpl.Spec.DeepCopy(),
		}
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, pvc, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create claim %s: %w", name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", name, pod, set.Name)
	}
	return nil
}

func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	// Only pods named like the set's may be adopted (upstream isMemberOf).
	var candidates []*corev1.Pod
	for _, p := range pods {
		if ordinalOf(set, p) >= 0 || metav1.IsControlledBy(p, set) {
			candidates = append(candidates, p)
		}
	}
	m := &ctrlutil.RefManager{
		Owner: set, OwnerGVK: kind, Selector: sel,
		CanAdopt: ctrlutil.RecheckDeletion(set, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, ns, name string, p []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		},
	}
	return ctrlutil.Claim(ctx, m, candidates)
}

// calculateStatus counts pods by readiness and revision; the current
// revision becomes the update revision once every replica runs it.
func calculateStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, CollisionCount: set.Status.CollisionCount,
		Conditions: set.Status.Conditions, CurrentRevision: current.Name, UpdateRevision: update.Name}
	curHash, updHash := current.Labels[appsv1.ControllerRevisionHashLabelKey], update.Labels[appsv1.ControllerRevisionHashLabelKey]
	for _, p := range pods {
		if p.DeletionTimestamp != nil || isFinished(p) {
			continue
		}
		st.Replicas++
		if ctrlutil.IsPodReady(p) {
			st.ReadyReplicas++
			if ctrlutil.IsPodAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		h := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if h == curHash {
			st.CurrentReplicas++
		}
		if h == updHash {
			st.UpdatedReplicas++
		}
	}
	if st.UpdatedReplicas == int32(replicas(set)) && st.ReadyReplicas == st.UpdatedReplicas {
		st.CurrentRevision, st.CurrentReplicas = update.Name, st.UpdatedReplicas
	}
	return st
}

func (c *Controller) updateStatus(ctx context.Context, cached, set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, syncErr error) error {
	st := calculateStatus(set, pods, current, update, c.clock.Now())
	if !apiequality.Semantic.DeepEqual(cached.Status, st) {
		set.Status = st
		if _, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
		}
	}
	if syncErr == nil && set.Spec.MinReadySeconds > 0 && st.ReadyReplicas != st.AvailableReplicas {
		c.queue.AddAfter(set.Namespace+"/"+set.Name, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return syncErr
}
