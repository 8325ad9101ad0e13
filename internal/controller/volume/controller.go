package volume

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const fieldManager = "berth-persistentvolume-controller"

// Event reasons, upstream's wording.
const (
	reasonFailedBinding         = "FailedBinding"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonVolumeDelete          = "VolumeDelete"
)

// Controller binds claims and volumes. Claims and volumes share one queue:
// keys "claim/<ns>/<name>" and "volume/<name>".
type Controller struct {
	client     kubernetes.Interface
	claims     corelisters.PersistentVolumeClaimLister
	volumes    corelisters.PersistentVolumeLister
	classes    storagelisters.StorageClassLister
	synced     []cache.InformerSynced
	recorder   record.EventRecorder
	storageDir string
	worker     ctrlutil.Worker
	log        *slog.Logger
}

// New builds the controller. storageDir is where provisioned local-path
// volumes live on the nodes (DATA_DIR/storage).
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, recorder record.EventRecorder, storageDir string, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client:     client,
		claims:     inf.Core().V1().PersistentVolumeClaims().Lister(),
		volumes:    inf.Core().V1().PersistentVolumes().Lister(),
		classes:    inf.Storage().V1().StorageClasses().Lister(),
		recorder:   recorder,
		storageDir: storageDir,
		log:        log,
	}
	c.worker = ctrlutil.Worker{Queue: ctrlutil.NewQueue("persistentvolume"), Sync: c.sync, Log: log}
	enqueue := func(prefix string) cache.ResourceEventHandler {
		add := func(obj any) {
			if key, ok := ctrlutil.KeyOf(obj); ok {
				c.worker.Queue.Add(prefix + key)
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, n any) { add(n) }, DeleteFunc: add}
	}
	claimInf := inf.Core().V1().PersistentVolumeClaims().Informer()
	volInf := inf.Core().V1().PersistentVolumes().Informer()
	classInf := inf.Storage().V1().StorageClasses().Informer()
	if _, err := claimInf.AddEventHandler(enqueue("claim/")); err != nil {
		return nil, err
	}
	if _, err := volInf.AddEventHandler(enqueue("volume/")); err != nil {
		return nil, err
	}
	// A claim deleted wakes its volume; a volume changed wakes its claim,
	// so binding proceeds from either side.
	if _, err := claimInf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		pvc, ok := obj.(*corev1.PersistentVolumeClaim)
		if !ok {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				pvc, _ = t.Obj.(*corev1.PersistentVolumeClaim)
			}
		}
		if pvc != nil && pvc.Spec.VolumeName != "" {
			c.worker.Queue.Add("volume/" + pvc.Spec.VolumeName)
		}
	}}); err != nil {
		return nil, err
	}
	wakeClaim := func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
			c.worker.Queue.Add("claim/" + pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
		}
	}
	if _, err := volInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: wakeClaim, UpdateFunc: func(_, n any) { wakeClaim(n) }}); err != nil {
		return nil, err
	}
	// A new default class may let pending claims proceed.
	if _, err := classInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) { c.requeuePending() }}); err != nil {
		return nil, err
	}
	c.synced = []cache.InformerSynced{claimInf.HasSynced, volInf.HasSynced, classInf.HasSynced}
	return c, nil
}

// Run makes sure the default local-path class exists, then runs n workers.
func (c *Controller) Run(ctx context.Context, n int) error {
	if err := c.ensureDefaultClass(ctx); err != nil {
		return err
	}
	return c.worker.Run(ctx, n, c.synced...)
}

func (c *Controller) ensureDefaultClass(ctx context.Context) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: DefaultClass, Annotations: map[string]string{annDefaultClass: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
	_, err := c.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create default StorageClass %s: %w", DefaultClass, err)
	}
	return nil
}

func (c *Controller) requeuePending() {
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pvc := range claims {
		if pvc.Spec.VolumeName == "" {
			c.worker.Queue.Add("claim/" + pvc.Namespace + "/" + pvc.Name)
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	switch {
	case len(key) > 6 && key[:6] == "claim/":
		ns, name, err := cache.SplitMetaNamespaceKey(key[6:])
		if err != nil {
			return nil
		}
		return c.syncClaim(ctx, ns, name)
	case len(key) > 7 && key[:7] == "volume/":
		return c.syncVolume(ctx, key[7:])
	}
	return nil
}

func (c *Controller) syncClaim(ctx context.Context, ns, name string) error {
	pvc, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.VolumeName != "" {
		pv, err := c.volumes.Get(pvc.Spec.VolumeName)
		if apierrors.IsNotFound(err) {
			return c.setClaimPhase(ctx, pvc, corev1.ClaimLost, nil)
		}
		if err != nil {
			return err
		}
		return c.bind(ctx, pvc, pv)
	}
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return err
	}
	class := claimClass(pvc, classes)
	pvs, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	if pv := findVolume(pvc, class, pvs); pv != nil {
		return c.bind(ctx, pvc, pv)
	}
	sc, err := c.classes.Get(class)
	if err != nil || sc.Provisioner != Provisioner {
		msg := "no persistent volumes available for this claim and no storage class is set"
		if class != "" {
			msg = fmt.Sprintf("storageclass.storage.k8s.io %q not found", class)
			if err == nil {
				msg = fmt.Sprintf("waiting for a volume to be created by external provisioner %q", sc.Provisioner)
			}
		}
		c.recorder.Event(pvc, corev1.EventTypeNormal, reasonFailedBinding, msg)
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
	}
	return c.provision(ctx, pvc, sc)
}

// provision creates a hostPath volume pre-bound to pvc; binding follows on
// the volume's add event.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass) error {
	pv := provisionedVolume(pvc, sc, c.storageDir)
	_, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("provision volume for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	c.recorder.Eventf(pvc, corev1.EventTypeNormal, reasonProvisioningSucceeded, "Successfully provisioned volume %s", pv.Name)
	return nil
}

// provisionedVolume is the volume the local-path provisioner makes for pvc:
// a directory on the node, created by the kubelet on first mount.
func provisionedVolume(pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, storageDir string) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	name := "pvc-" + string(pvc.UID)
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes: pvc.Spec.AccessModes,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: filepath.Join(storageDir, name+"_"+pvc.Namespace+"_"+pvc.Name),
				Type: ptr.To(corev1.HostPathDirectoryOrCreate),
			}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
		},
	}
}

// bind completes both halves of a binding, volume first, as upstream does,
// so a crash between the two leaves a volume pre-bound to the claim, which
// the next sync finishes.
func (c *Controller) bind(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID || ref.Name != pvc.Name || ref.Namespace != pvc.Namespace {
		if ref != nil && ref.UID != "" && ref.UID != pvc.UID {
			return nil // bound to another claim of the same name; not ours
		}
		pv = pv.DeepCopy()
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
		metav1.SetMetaDataAnnotation(&pv.ObjectMeta, annBoundByCtrl, "yes")
		var err error
		if pv, err = c.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("bind volume %s to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, err)
		}
	}
	if pv.Status.Phase != corev1.VolumeBound {
		pv = pv.DeepCopy()
		pv.Status.Phase = corev1.VolumeBound
		if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("mark volume %s bound: %w", pv.Name, err)
		}
	}
	if pvc.Spec.VolumeName != pv.Name || pvc.Annotations[annBindCompleted] != "yes" || pvc.Spec.StorageClassName == nil {
		pvc = pvc.DeepCopy()
		pvc.Spec.VolumeName = pv.Name
		if pvc.Spec.StorageClassName == nil {
			pvc.Spec.StorageClassName = ptr.To(pv.Spec.StorageClassName)
		}
		metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, annBindCompleted, "yes")
		metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, annBoundByCtrl, "yes")
		if pv.Annotations[annProvisionedBy] != "" {
			metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, annStorageProvisn, pv.Annotations[annProvisionedBy])
		}
		var err error
		if pvc, err = c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("bind claim %s/%s to volume %s: %w", pvc.Namespace, pvc.Name, pv.Name, err)
		}
	}
	return c.setClaimPhase(ctx, pvc, corev1.ClaimBound, pv)
}

func (c *Controller) setClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) error {
	if pvc.Status.Phase == phase && (pv == nil || pvc.Status.Capacity != nil) {
		return nil
	}
	pvc = pvc.DeepCopy()
	pvc.Status.Phase = phase
	if pv != nil {
		pvc.Status.Capacity = pv.Spec.Capacity
		pvc.Status.AccessModes = pv.Spec.AccessModes
	}
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("set claim %s/%s phase %s: %w", pvc.Namespace, pvc.Name, phase, err)
	}
	return nil
}

// syncVolume releases a volume whose claim is gone and, for reclaim policy
// Delete, deletes it (after a fresh read, with a UID precondition).
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		if pv.Status.Phase != corev1.VolumeAvailable {
			return c.setVolumePhase(ctx, pv, corev1.VolumeAvailable)
		}
		return nil
	}
	pvc, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err == nil && (ref.UID == "" || pvc.UID == ref.UID) {
		return nil // bound or being bound: the claim's sync owns it
	}
	if ref.UID == "" {
		return nil // pre-bound by a user to a claim that does not exist yet
	}
	// The claim is gone: fresh read before the destructive step.
	fresh, err := c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return client404(err)
	}
	if fresh.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
		c.log.Info("deleting released volume", "volume", name, "claim", ref.Namespace+"/"+ref.Name)
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &fresh.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.recorder.Eventf(fresh, corev1.EventTypeWarning, reasonVolumeDelete, "delete volume: %v", err)
			return err
		}
		return nil
	}
	return c.setVolumePhase(ctx, fresh, corev1.VolumeReleased)
}

func (c *Controller) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase) error {
	if pv.Status.Phase == phase {
		return nil
	}
	pv = pv.DeepCopy()
	pv.Status.Phase = phase
	if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("set volume %s phase %s: %w", pv.Name, phase, err)
	}
	return nil
}

func client404(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
