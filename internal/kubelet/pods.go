package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth-dev/berth/internal/network"
)

// Event reasons, upstream's (pkg/kubelet/events).
const (
	EventPulling         = "Pulling"
	EventPulled          = "Pulled"
	EventCreated         = "Created"
	EventStarted         = "Started"
	EventKilling         = "Killing"
	EventFailed          = "Failed"
	EventBackOff         = "BackOff"
	EventUnhealthy       = "Unhealthy"
	EventFailedSandbox   = "FailedCreatePodSandBox"
	EventFailedMount     = "FailedMount"
	EventFailedPostStart = "FailedPostStartHook"
	EventFailedPreStop   = "FailedPreStopHook"
	EventErrImageNever   = "ErrImageNeverPull"
)

// resyncPeriod is how often a pod with live containers is re-checked, so an
// exit is noticed within about a second.
const resyncPeriod = time.Second

// podWorker owns one pod: every change of the pod object, every probe
// result and a periodic tick run sync, which compares the spec with what
// the runtime has and acts. Only the worker's goroutine calls sync.
type podWorker struct {
	k     *Kubelet
	uid   types.UID
	ns    string
	name  string
	kickc chan struct{}
	done  chan struct{}

	last    *corev1.Pod // the newest object seen, for cleanup once it is gone
	dir     string
	sb      *sandbox
	backoff *backoffs
	// pullFailed is when each image pull last failed; the pull back-off
	// counts from there. Only the worker goroutine touches it.
	pullFailed map[string]time.Time
	// cgroupSet records that the pod cgroup got its limits.
	cgroupSet bool
	// vols are the volume paths of the last refresh (see volumes).
	vols   map[string]string
	volsRV string
	volsAt time.Time
	// pendingNet delivers the result of a CNI ADD still running (nil when
	// none is); see ensureSandbox.
	pendingNet chan netResult

	mu      sync.Mutex
	waiting map[string]*corev1.ContainerStateWaiting
	probes  map[string]*containerProbes // by container name
}

func newPodWorker(k *Kubelet, pod *corev1.Pod) *podWorker {
	return &podWorker{
		k: k, uid: pod.UID, ns: pod.Namespace, name: pod.Name,
		kickc:      make(chan struct{}, 1),
		done:       make(chan struct{}),
		last:       pod,
		dir:        podDir(k.cfg.DataDir, pod.UID),
		backoff:    newBackoffs(),
		pullFailed: map[string]time.Time{},
		waiting:    map[string]*corev1.ContainerStateWaiting{},
		probes:     map[string]*containerProbes{},
	}
}

// kick asks for a sync soon; it never blocks.
func (w *podWorker) kick() {
	select {
	case w.kickc <- struct{}{}:
	default:
	}
}

func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stopProbes("")
			return
		case <-w.kickc:
		case <-timer.C:
		}
		next, finished := w.sync(ctx)
		if finished {
			w.k.workerDone(w.uid)
			return
		}
		timer.Reset(next)
	}
}

func (w *podWorker) key() string { return w.ns + "/" + w.name }

// sync makes the runtime match the pod. It returns when to look again and
// whether the pod is gone for good (its worker ends).
func (w *podWorker) sync(ctx context.Context) (time.Duration, bool) {
	log := w.k.log.With("pod", w.key())
	pod, err := w.k.pods.Pods(w.ns).Get(w.name)
	if apierrors.IsNotFound(err) || (err == nil && pod.UID != w.uid) {
		// Deleted from the API (force delete): stop at once.
		if err := w.terminate(ctx, w.last, 0); err != nil {
			log.Error("cleanup failed, will retry", "err", err)
			return 2 * time.Second, false
		}
		return 0, true
	}
	if err != nil {
		return time.Second, false
	}
	w.last = pod
	if pod.DeletionTimestamp != nil {
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		if err := w.terminate(ctx, pod, grace); err != nil {
			log.Error("termination failed, will retry", "err", err)
			return 2 * time.Second, false
		}
		// The API server only marks pods on nodes; the kubelet finishes the
		// delete once nothing runs (upstream's status manager does the same).
		uid := pod.UID
		err := w.k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Error("final delete failed, will retry", "err", err)
			return 2 * time.Second, false
		}
		return 0, true
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Finished pods keep their containers (for logs) until deleted,
		// but give their address back at once, as upstream kills the
		// sandbox: a node's /24 would otherwise fill with completed Jobs.
		w.stopProbes("")
		if err := w.releaseNetwork(ctx, pod); err != nil {
			log.Error("release network of a finished pod, will retry", "err", err)
			return 2 * time.Second, false
		}
		return time.Minute, false
	}
	next, err := w.syncRunning(ctx, pod)
	if err != nil {
		log.Error("sync failed, will retry", "err", err)
		return 2 * time.Second, false
	}
	return next, false
}

// syncRunning drives a live pod: sandbox, files, volumes, then init
// containers in order and app containers, and finally the status.
func (w *podWorker) syncRunning(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	next := resyncPeriod
	start := time.Now()
	var tSandbox, tVolumes, tContainers time.Duration
	defer func() {
		w.k.log.Debug("pod synced", "pod", w.key(), "took", time.Since(start), "sandbox", tSandbox, "volumes", tVolumes, "containers", tContainers)
	}()
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		return 0, err
	}
	err := w.ensureSandbox(ctx, pod)
	tSandbox = time.Since(start)
	if err != nil {
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailedSandbox, "Failed to create pod sandbox: %v", err)
		return 0, w.updateStatus(ctx, pod, nil)
	}
	volumes, err := w.volumes(ctx, pod)
	tVolumes = time.Since(start) - tSandbox
	if err != nil {
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailedMount, "MountVolume.SetUp failed for %v", err)
		return 0, w.updateStatus(ctx, pod, nil)
	}
	all, err := w.k.rt.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID)})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	byName := groupAttempts(all)
	w.gcAttempts(ctx, byName)

	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		atts := byName[c.Name]
		cur := latest(atts)
		if cur != nil && !cur.State.Running && !cur.State.Created && cur.State.Error == "" && cur.State.ExitCode == 0 {
			continue
		}
		initDone = false
		if cur != nil && cur.State.Running {
			break
		}
		if d := w.startOrRestart(ctx, pod, c, cur, volumes); d > 0 {
			next = min(next, d)
		}
		break
	}
	if initDone {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			cur := latest(byName[c.Name])
			if cur != nil && cur.State.Running {
				w.ensureProbes(ctx, pod, c, cur)
				continue
			}
			if d := w.startOrRestart(ctx, pod, c, cur, volumes); d > 0 {
				next = min(next, d)
			}
		}
	}
	tContainers = time.Since(start) - tSandbox - tVolumes
	if err := w.finishSandbox(ctx, pod); err != nil {
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailedSandbox, "Failed to create pod sandbox: %v", err)
	}
	all, err = w.k.rt.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID)})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	return next, w.updateStatus(ctx, pod, groupAttempts(all))
}

// volumeRefresh is how often ConfigMap, Secret and downward API volume
// contents are rewritten from the API (upstream's kubelet takes up to its
// sync period plus a cache TTL, about a minute).
const volumeRefresh = 10 * time.Second

// volumes sets the pod's volumes up on the first sync and refreshes them
// every volumeRefresh (and when the pod object changes), not on every
// one-second resync, so a node's pods do not poll the API server.
func (w *podWorker) volumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	if w.vols != nil && pod.ResourceVersion == w.volsRV && time.Since(w.volsAt) < volumeRefresh {
		return w.vols, nil
	}
	v, err := w.k.setupVolumes(ctx, pod, w.dir, w.podIP())
	if err != nil {
		return nil, err
	}
	w.vols, w.volsRV, w.volsAt = v, pod.ResourceVersion, time.Now()
	return v, nil
}

// startOrRestart starts a container that has no attempt yet, or restarts
// an exited one when the restart policy and the back-off allow. It returns
// how soon to look again (0 for the default).
func (w *podWorker) startOrRestart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur *ContainerInfo, volumes map[string]string) time.Duration {
	attempt := 0
	if cur != nil {
		attempt = attemptOf(cur) + 1
		if cur.State.Created && cur.State.Error == "" {
			// Created but never started (the agent stopped in between):
			// replace it under the same attempt number.
			attempt--
			if err := w.k.rt.RemoveContainer(ctx, cur.ID); err != nil {
				return 0
			}
		} else {
			if !shouldRestart(pod.Spec.RestartPolicy, cur, isInit(pod, c.Name)) {
				w.setWaiting(c.Name, nil)
				return 0
			}
			key := "restart/" + c.Name
			now := time.Now()
			finished := cur.State.FinishedAt
			if finished.IsZero() {
				finished = cur.Created
			}
			if in, left := w.backoff.inBackoff(key, finished, now); in {
				msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", w.backoff.current(key), c.Name, pod.Name, pod.Namespace, pod.UID)
				if w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff, Message: msg}) {
					w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventBackOff, "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
				}
				return left
			}
			w.backoff.next(key, now)
		}
	}
	w.startContainer(ctx, pod, c, attempt, volumes)
	return 0
}

func isInit(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// shouldRestart applies restartPolicy to an exited container. Init
// containers always retry after a failure unless the policy is Never.
func shouldRestart(policy corev1.RestartPolicy, ci *ContainerInfo, init bool) bool {
	failed := ci.State.ExitCode != 0 || ci.State.Error != ""
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return failed
	}
	if init {
		return failed
	}
	return true
}

// setWaiting records (or with nil clears) a waiting reason the kubelet
// chose for a container, reporting whether the reason changed.
func (w *podWorker) setWaiting(name string, s *corev1.ContainerStateWaiting) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.waiting[name]
	if s == nil {
		delete(w.waiting, name)
		return old != nil
	}
	w.waiting[name] = s
	return old == nil || old.Reason != s.Reason
}

func (w *podWorker) getWaiting(name string) *corev1.ContainerStateWaiting {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting[name]
}

// startContainer pulls, creates and starts one attempt, recording a
// waiting reason and events for each failure the way upstream does.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int, volumes map[string]string) {
	imageRef, ok := w.ensureImage(ctx, pod, c)
	if !ok {
		return
	}
	env, err := w.k.env.containerEnv(ctx, pod, c, w.podIP(), w.k.cfg.NodeIP, w.k.serviceEnv(pod))
	if err == nil {
		if c.TerminationMessagePath != "" {
			f, ferr := os.OpenFile(filepath.Join(w.dir, "termination-"+c.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
			if ferr != nil {
				err = ferr
			} else {
				f.Close()
			}
		}
	}
	var cfg ContainerConfig
	if err == nil {
		cfg, err = buildContainerConfig(pod, c, containerSpecInput{
			attempt: attempt, env: env, volumes: volumes, sb: w.sb, podDir: w.dir,
			cgroups: w.k.cfg.CgroupRoot, hostNet: pod.Spec.HostNetwork, imageRef: imageRef,
		})
	}
	if err != nil {
		w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonCreateConfigErr, Message: err.Error()})
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailed, "Error: %v", err)
		return
	}
	if !w.cgroupSet && w.k.cfg.CgroupRoot != "" {
		// Container limits hold either way; the pod-level ones are upstream's extra bound.
		if err := ensurePodCgroup(podCgroupParent(w.k.cfg.CgroupRoot, pod), podCgroupLimits(&pod.Spec)); err != nil {
			w.k.log.Warn("pod cgroup limits not applied", "pod", w.key(), "err", err)
		}
		w.cgroupSet = true
	}
	id, err := w.k.rt.CreateContainer(ctx, cfg)
	if err != nil {
		w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonCreateContainerErr, Message: err.Error()})
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailed, "Error: %v", err)
		return
	}
	w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventCreated, "Created container: %s", c.Name)
	w.setWaiting(c.Name, nil)
	if err := w.finishSandbox(ctx, pod); err != nil {
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailedSandbox, "Failed to create pod sandbox: %v", err)
		if err := w.k.rt.RemoveContainer(ctx, id); err != nil {
			w.k.log.Warn("remove container of a failed sandbox", "pod", w.key(), "err", err)
		}
		return
	}
	if err := w.k.rt.StartContainer(ctx, id); err != nil {
		// The container stays with the runtime's error as its state
		// (StartError); the restart back-off takes it from there.
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailed, "Error: failed to start container %q: %v", c.Name, err)
		return
	}
	w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventStarted, "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := w.k.runHandler(ctx, pod, c, id, c.Lifecycle.PostStart, w.podIP()); err != nil {
			w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailedPostStart, "PostStartHook failed: %v %s", err, msg)
			w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventKilling, "FailedPostStartHook")
			if err := w.k.rt.StopContainer(ctx, id, gracePeriod(pod)); err != nil {
				w.k.log.Error("stop after failed postStart", "pod", w.key(), "err", err)
			}
		}
	}
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// ensureImage applies imagePullPolicy; false means the container waits
// (ErrImagePull, ImagePullBackOff, ErrImageNeverPull).
func (w *podWorker) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (string, bool) {
	ref := c.Image
	if ref == "" {
		w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonInvalidImageName, Message: "Failed to apply default image tag \"\": couldn't parse image name \"\": invalid reference format"})
		return "", false
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if !strings.Contains(lastSegment(ref), ":") && !strings.Contains(ref, "@") || strings.HasSuffix(ref, ":latest") {
			policy = corev1.PullAlways
		}
	}
	_, err := w.k.rt.ImageID(ctx, ref)
	present := err == nil
	switch {
	case policy == corev1.PullNever && !present:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", ref)
		w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonErrImageNeverPull, Message: msg})
		w.k.recorder.Event(pod, corev1.EventTypeWarning, EventErrImageNever, msg)
		return "", false
	case present && policy != corev1.PullAlways:
		w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventPulled, "Container image %q already present on machine", ref)
		return ref, true
	}
	key := "pull/" + ref
	if in, _ := w.backoff.inBackoff(key, w.pullFailed[key], time.Now()); in {
		msg := fmt.Sprintf("Back-off pulling image %q", ref)
		if w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonImagePullBackOff, Message: msg}) {
			w.k.recorder.Event(pod, corev1.EventTypeNormal, EventBackOff, msg)
			w.k.recorder.Event(pod, corev1.EventTypeWarning, EventFailed, "Error: "+ReasonImagePullBackOff)
		}
		return "", false
	}
	if len(pod.Status.ContainerStatuses) == 0 {
		// A pull can take long: show ContainerCreating (and the pod IP) meanwhile.
		if err := w.updateStatus(ctx, pod, nil); err != nil {
			w.k.log.Debug("early status", "pod", w.key(), "err", err)
		}
	}
	w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventPulling, "Pulling image %q", ref)
	start := time.Now()
	_, size, err := w.k.rt.PullImage(ctx, ref)
	if err != nil {
		w.backoff.next(key, time.Now())
		w.pullFailed[key] = time.Now()
		w.setWaiting(c.Name, &corev1.ContainerStateWaiting{Reason: ReasonErrImagePull, Message: err.Error()})
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailed, "Failed to pull image %q: %v", ref, err)
		w.k.recorder.Event(pod, corev1.EventTypeWarning, EventFailed, "Error: "+ReasonErrImagePull)
		return "", false
	}
	w.backoff.reset(key)
	d := time.Since(start).Round(time.Millisecond)
	w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventPulled, "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", ref, d, d, size)
	return ref, true
}

func lastSegment(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// ensureSandbox creates (or adopts) the pod's namespaces. A new pod's CNI
// ADD runs in the background while the first container is created (the
// two are the slowest steps of a pod start and independent);
// finishSandbox waits for it before anything starts or needs the address.
func (w *podWorker) ensureSandbox(ctx context.Context, pod *corev1.Pod) error {
	if w.sb == nil {
		if sb, err := loadSandbox(w.dir); err == nil {
			w.sb = sb // adopted after a restart
		}
	}
	if w.sb == nil {
		if err := w.newSandbox(ctx, pod); err != nil {
			return err
		}
	}
	if w.pendingNet != nil && needsIPFirst(pod) {
		return w.finishSandbox(ctx, pod)
	}
	return w.writePodFiles(pod)
}

// newSandbox pins fresh namespaces for the pod (clearing what an agent
// that stopped half way left) and starts its CNI ADD.
func (w *podWorker) newSandbox(ctx context.Context, pod *corev1.Pod) (retErr error) {
	sb := &sandbox{IPCNS: filepath.Join(w.dir, "ipc"), UTSNS: filepath.Join(w.dir, "uts")}
	var n *network.Network
	if !pod.Spec.HostNetwork {
		var err error
		if n, err = w.k.network(ctx); err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
		sb.NetNS = n.NetnsPath(string(pod.UID))
	}
	w.sb = sb
	if _, err := os.Stat(sb.NetNS); err == nil || fileExists(sb.IPCNS) {
		w.dropSandbox(ctx, pod) // leftovers without a sandbox record
		w.sb = sb
	}
	defer func() {
		if retErr != nil {
			w.dropSandbox(ctx, pod)
		}
	}()
	if _, _, err := pinIPCUTS(w.dir, podHostname(pod)); err != nil {
		return err
	}
	if n == nil {
		return sb.save(w.dir)
	}
	id := string(pod.UID)
	if _, err := n.CreateNetns(id); err != nil {
		return err
	}
	done := make(chan netResult, 1)
	ports := hostPorts(pod)
	go func() {
		att, err := n.Add(ctx, id, sb.NetNS, ports)
		done <- netResult{att.IP, err}
	}()
	w.pendingNet = done
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// netResult is the outcome of a background CNI ADD.
type netResult struct {
	ip  netip.Addr
	err error
}

// needsIPFirst reports whether a container's env or a downward API volume
// reads the pod IP, so the address must exist before containers are made.
func needsIPFirst(pod *corev1.Pod) bool {
	isIP := func(path string) bool { return path == "status.podIP" || path == "status.podIPs" }
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && isIP(e.ValueFrom.FieldRef.FieldPath) {
					return true
				}
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		var items []corev1.DownwardAPIVolumeFile
		if v.DownwardAPI != nil {
			items = v.DownwardAPI.Items
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.DownwardAPI != nil {
					items = append(items, src.DownwardAPI.Items...)
				}
			}
		}
		for _, it := range items {
			if it.FieldRef != nil && isIP(it.FieldRef.FieldPath) {
				return true
			}
		}
	}
	return false
}

// finishSandbox waits for a pending CNI ADD and records the address. On
// failure the sandbox is torn down, so the next sync starts over.
func (w *podWorker) finishSandbox(ctx context.Context, pod *corev1.Pod) error {
	if w.pendingNet == nil {
		return nil
	}
	var r netResult
	select {
	case r = <-w.pendingNet:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.pendingNet = nil
	if r.err != nil {
		w.dropSandbox(ctx, pod)
		return r.err
	}
	w.sb.IP = r.ip
	if err := w.sb.save(w.dir); err != nil {
		w.dropSandbox(ctx, pod)
		return err
	}
	return w.writePodFiles(pod)
}

// dropSandbox undoes a sandbox that failed half way.
func (w *podWorker) dropSandbox(ctx context.Context, pod *corev1.Pod) {
	if w.sb == nil {
		return
	}
	w.waitPendingNet(ctx)
	if n, err := w.k.network(ctx); err == nil && w.sb.NetNS != "" {
		if err := n.Del(ctx, string(pod.UID), w.sb.NetNS, hostPorts(pod)); err != nil {
			w.k.log.Warn("release half-made sandbox", "pod", w.key(), "err", err)
		}
		if err := n.DeleteNetns(string(pod.UID)); err != nil {
			w.k.log.Warn("release half-made sandbox", "pod", w.key(), "err", err)
		}
	}
	unpin(w.sb.IPCNS)
	unpin(w.sb.UTSNS)
	w.sb = nil
}

// releaseNetwork detaches a finished pod from the pod network and removes
// its network namespace; the recorded address stays for the status.
func (w *podWorker) releaseNetwork(ctx context.Context, pod *corev1.Pod) error {
	if w.sb == nil {
		w.sb, _ = loadSandbox(w.dir) // nil when the pod never got one
	}
	w.waitPendingNet(ctx)
	if w.sb == nil || w.sb.NetNS == "" {
		return nil
	}
	n, err := w.k.network(ctx)
	if err != nil {
		return err
	}
	if err := n.Del(ctx, string(pod.UID), w.sb.NetNS, hostPorts(pod)); err != nil {
		return err
	}
	if err := n.DeleteNetns(string(pod.UID)); err != nil {
		return err
	}
	w.sb.NetNS = ""
	return w.sb.save(w.dir)
}

// waitPendingNet lets a CNI ADD in flight finish, so a DEL never races it.
func (w *podWorker) waitPendingNet(ctx context.Context) {
	if w.pendingNet == nil {
		return
	}
	select {
	case <-w.pendingNet:
	case <-ctx.Done():
	}
	w.pendingNet = nil
}

// writePodFiles writes /etc/hosts, resolv.conf and hostname for the pod;
// unchanged files are left alone.
func (w *podWorker) writePodFiles(pod *corev1.Pod) error {
	hostConf, _ := os.ReadFile("/etc/resolv.conf") // a host without one gets cluster DNS only
	files := map[string][]byte{
		"etc-hosts":   etcHosts(pod, w.podIP(), w.k.cfg.ClusterDomain),
		"resolv.conf": resolvConf(pod, w.k.cfg.ClusterDNS, w.k.cfg.ClusterDomain, hostConf),
		"hostname":    []byte(podHostname(pod) + "\n"),
	}
	if pod.Spec.HostNetwork {
		// The pod shares the node's UTS namespace, so its name too.
		if h, err := os.Hostname(); err == nil {
			files["hostname"] = []byte(h + "\n")
		}
	}
	for name, data := range files {
		p := filepath.Join(w.dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(data) {
			continue
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (w *podWorker) podIP() string {
	if w.last != nil && w.last.Spec.HostNetwork {
		return w.k.cfg.NodeIP
	}
	if w.sb == nil || !w.sb.IP.IsValid() {
		return ""
	}
	return w.sb.IP.String()
}

// terminate stops every container (preStop, SIGTERM, grace, SIGKILL) and
// removes everything the pod had on this node: containers, network,
// namespaces, volumes, cgroups and its directory.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, graceSeconds int64) error {
	w.stopProbes("")
	all, err := w.k.rt.ListContainers(ctx, map[string]string{LabelPodUID: string(w.uid)})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	grace := time.Duration(graceSeconds) * time.Second
	deadline := time.Now().Add(grace)
	var wg sync.WaitGroup
	for i := range all {
		ci := all[i]
		if !ci.State.Running {
			continue
		}
		wg.Go(func() {
			name := ci.Labels[LabelContainerName]
			if c := specContainer(pod, name); c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
				hctx, cancel := context.WithDeadline(ctx, deadline)
				if msg, err := w.k.runHandler(hctx, pod, c, ci.ID, c.Lifecycle.PreStop, w.podIP()); err != nil {
					w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventFailedPreStop, "PreStopHook failed: %v %s", err, msg)
				}
				cancel()
			}
			w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventKilling, "Stopping container %s", name)
			if err := w.k.rt.StopContainer(ctx, ci.ID, max(time.Until(deadline), 0)); err != nil {
				w.k.log.Warn("stop container", "pod", w.key(), "container", name, "err", err)
			}
		})
	}
	wg.Wait()
	if pod != nil && pod.DeletionTimestamp != nil && len(all) > 0 {
		// Report the final container states before the object goes away.
		if final, err := w.k.rt.ListContainers(ctx, map[string]string{LabelPodUID: string(w.uid)}); err == nil {
			_ = w.updateStatus(ctx, pod, groupAttempts(final)) // best effort: the pod is deleted next
		}
	}
	return w.cleanup(ctx, pod, all)
}

func specContainer(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

func (w *podWorker) cleanup(ctx context.Context, pod *corev1.Pod, all []ContainerInfo) error {
	w.waitPendingNet(ctx)
	var errs []error
	for _, ci := range all {
		if err := w.k.rt.RemoveContainer(ctx, ci.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", ci.ID, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if w.sb == nil {
		w.sb, _ = loadSandbox(w.dir) // nil when the pod never got one
	}
	if ns := filepath.Join(NetworkStateDir(w.k.cfg.DataDir), "netns", string(w.uid)); w.sb == nil && fileExists(ns) {
		// The agent stopped before the sandbox was recorded.
		w.sb = &sandbox{NetNS: ns}
	}
	if w.sb != nil && w.sb.NetNS != "" {
		n, err := w.k.network(ctx)
		if err != nil {
			return err
		}
		var ports = hostPorts(pod)
		if err := n.Del(ctx, string(w.uid), w.sb.NetNS, ports); err != nil {
			return err
		}
		if err := n.DeleteNetns(string(w.uid)); err != nil {
			return err
		}
	}
	for _, p := range []string{filepath.Join(w.dir, "ipc"), filepath.Join(w.dir, "uts")} {
		if err := unpin(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := teardownVolumes(w.dir); err != nil {
		errs = append(errs, err)
	}
	w.k.tokens.forget(string(w.uid))
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(w.dir); err != nil {
		return fmt.Errorf("remove pod dir: %w", err)
	}
	removePodCgroups(w.k.cfg.CgroupRoot, w.uid)
	w.sb = nil
	return nil
}

// groupAttempts sorts a pod's containers by spec name, newest attempt first.
func groupAttempts(all []ContainerInfo) map[string][]ContainerInfo {
	out := map[string][]ContainerInfo{}
	for _, ci := range all {
		n := ci.Labels[LabelContainerName]
		out[n] = append(out[n], ci)
	}
	for _, atts := range out {
		sort.Slice(atts, func(i, j int) bool { return attemptOf(&atts[i]) > attemptOf(&atts[j]) })
	}
	return out
}

func attemptOf(ci *ContainerInfo) int {
	n, _ := strconv.Atoi(ci.Labels[LabelRestartCount]) // our own label; 0 if absent
	return n
}

func latest(atts []ContainerInfo) *ContainerInfo {
	if len(atts) == 0 {
		return nil
	}
	return &atts[0]
}

// gcAttempts keeps the newest two attempts of each container (the current
// one and the one `kubectl logs --previous` shows).
func (w *podWorker) gcAttempts(ctx context.Context, byName map[string][]ContainerInfo) {
	for name, atts := range byName {
		if len(atts) <= 2 {
			continue
		}
		for _, old := range atts[2:] {
			if err := w.k.rt.RemoveContainer(ctx, old.ID); err != nil {
				w.k.log.Warn("remove old attempt", "pod", w.key(), "container", name, "err", err)
			}
		}
		byName[name] = atts[:2]
	}
}

// updateStatus computes the pod status and writes it when it changed.
func (w *podWorker) updateStatus(ctx context.Context, pod *corev1.Pod, byName map[string][]ContainerInfo) error {
	status := w.computeStatus(pod, byName)
	if apiequality.Semantic.DeepEqual(status, pod.Status) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = status
	if _, err := w.k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			w.kick() // the informer brings the newer object; try again with it
			return nil
		}
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

func (w *podWorker) computeStatus(pod *corev1.Pod, byName map[string][]ContainerInfo) corev1.PodStatus {
	now := metav1.Now()
	view := func(c *corev1.Container) containerView {
		atts := byName[c.Name]
		v := containerView{waiting: w.getWaiting(c.Name), ready: true, started: true}
		if len(atts) > 0 {
			v.current = &atts[0]
			v.restarts = int32(attemptOf(&atts[0]))
		}
		if len(atts) > 1 {
			v.previous = &atts[1]
		}
		if v.current != nil {
			v.ready, v.started = w.probeState(c, v.current.ID)
		}
		return v
	}
	old := pod.Status
	s := corev1.PodStatus{
		HostIP:   w.k.cfg.NodeIP,
		QOSClass: qosClass(&pod.Spec),
	}
	if w.k.cfg.NodeIP != "" {
		s.HostIPs = []corev1.HostIP{{IP: w.k.cfg.NodeIP}}
	}
	if ip := w.podIP(); ip != "" {
		s.PodIP = ip
		s.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	s.StartTime = old.StartTime
	if s.StartTime == nil {
		s.StartTime = &now
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		s.InitContainerStatuses = append(s.InitContainerStatuses, containerStatus(c, view(c)))
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := containerStatus(c, view(c))
		if t := cs.State.Terminated; t != nil && t.Message == "" {
			t.Message = w.terminationMessage(c.Name)
		}
		if cs.State.Waiting != nil && cs.State.Waiting.Reason == ReasonContainerCreating && len(s.InitContainerStatuses) > 0 {
			for _, is := range s.InitContainerStatuses {
				if t := is.State.Terminated; t == nil || t.ExitCode != 0 {
					cs.State.Waiting.Reason = ReasonPodInitializing
				}
			}
		}
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}
	s.Phase = podPhase(&pod.Spec, s.InitContainerStatuses, s.ContainerStatuses)
	if old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed {
		s.Phase = old.Phase // terminal phases never change back
	}
	s.Conditions = podConditions(old.Conditions, &pod.Spec, s.Phase, s.InitContainerStatuses, s.ContainerStatuses, now)
	// Keep times the API server already has, so an unchanged pod compares equal.
	preserveTimes(&s, &old)
	return s
}

// terminationMessage is what the container wrote to its
// terminationMessagePath, capped at 4096 bytes as upstream.
func (w *podWorker) terminationMessage(name string) string {
	f, err := os.Open(filepath.Join(w.dir, "termination-"+name))
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 4096)
	n, _ := io.ReadFull(f, b) // a short file is the normal case
	return string(b[:n])
}

// preserveTimes copies old timestamps into s where the state is the same,
// so equal states compare equal and no status write happens.
func preserveTimes(s, old *corev1.PodStatus) {
	if old.StartTime != nil {
		s.StartTime = old.StartTime
	}
}

// stopProbes stops the probers of one container, or all with "".
func (w *podWorker) stopProbes(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, p := range w.probes {
		if name == "" || n == name {
			p.stop()
			delete(w.probes, n)
		}
	}
}
