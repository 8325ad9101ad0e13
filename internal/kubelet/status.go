package kubelet

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Container waiting and termination reasons, as upstream's kubelet reports them.
const (
	ReasonContainerCreating  = "ContainerCreating"
	ReasonPodInitializing    = "PodInitializing"
	ReasonErrImagePull       = "ErrImagePull"
	ReasonImagePullBackOff   = "ImagePullBackOff"
	ReasonCrashLoopBackOff   = "CrashLoopBackOff"
	ReasonCreateContainerErr = "CreateContainerError"
	ReasonCreateConfigErr    = "CreateContainerConfigError"
	ReasonRunContainerError  = "RunContainerError"
	ReasonCompleted          = "Completed"
	ReasonError              = "Error"
	ReasonOOMKilled          = "OOMKilled"
	ReasonStartError         = "StartError"
	ReasonContainersNotReady = "ContainersNotReady"
	ReasonContainersNotInit  = "ContainersNotInitialized"
	ReasonPodCompleted       = "PodCompleted"
	ReasonInvalidImageName   = "InvalidImageName"
	ReasonErrImageNeverPull  = "ErrImageNeverPull"
)

// containerView is what the status math needs about one spec container.
type containerView struct {
	current  *ContainerInfo // latest attempt, nil if none yet
	previous *ContainerInfo // the attempt before, for lastState
	restarts int32
	waiting  *corev1.ContainerStateWaiting // a reason the kubelet set (pull error, back-off)
	ready    bool                          // readiness probe (true without one once running)
	started  bool                          // startup probe passed (true without one)
}

// containerStatus renders one containerStatuses entry.
func containerStatus(c *corev1.Container, v containerView) corev1.ContainerStatus {
	s := corev1.ContainerStatus{Name: c.Name, Image: c.Image, RestartCount: v.restarts}
	if v.current != nil {
		s.ContainerID = "berth://" + v.current.ID
		s.ImageID = v.current.ImageID
		s.State = runtimeState(v.current)
	}
	if v.waiting != nil && (v.current == nil || !v.current.State.Running) {
		s.State = corev1.ContainerState{Waiting: v.waiting.DeepCopy()}
		if v.current != nil {
			// The exited attempt is what the back-off waits on: lastState.
			s.LastTerminationState = runtimeState(v.current)
		}
	} else if v.previous != nil {
		s.LastTerminationState = runtimeState(v.previous)
	}
	if s.State.Waiting == nil && s.State.Running == nil && s.State.Terminated == nil {
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}
	}
	running := s.State.Running != nil
	s.Ready = running && v.ready && v.started
	started := running && v.started
	s.Started = &started
	return s
}

// runtimeState maps a runtime container to a k8s container state.
func runtimeState(ci *ContainerInfo) corev1.ContainerState {
	st := ci.State
	switch {
	case st.Running:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(st.StartedAt)}}
	case st.Error != "":
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: ReasonStartError, Message: st.Error,
			StartedAt: metav1.NewTime(st.StartedAt), FinishedAt: metav1.NewTime(st.FinishedAt), ContainerID: "berth://" + ci.ID,
		}}
	case st.Created:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}}
	}
	reason := ReasonCompleted
	if st.OOMKilled {
		reason = ReasonOOMKilled
	} else if st.ExitCode != 0 {
		reason = ReasonError
	}
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(st.ExitCode), Reason: reason,
		StartedAt: metav1.NewTime(st.StartedAt), FinishedAt: metav1.NewTime(st.FinishedAt), ContainerID: "berth://" + ci.ID,
	}}
}

// podPhase is upstream's getPhase (pkg/kubelet/kubelet_pods.go), reduced to
// the non-sidecar cases.
func podPhase(spec *corev1.PodSpec, init, app []corev1.ContainerStatus) corev1.PodPhase {
	for _, s := range init {
		if t := s.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		if t := s.State.Terminated; t != nil && spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		if lt := s.LastTerminationState.Terminated; s.State.Waiting != nil && lt != nil && lt.ExitCode != 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range app {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == len(app) && len(app) > 0:
		if spec.RestartPolicy == corev1.RestartPolicyAlways {
			return corev1.PodRunning // restarting
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// podConditions computes Initialized, ContainersReady and Ready (plus the
// scheduler's PodScheduled, kept) with upstream's reasons, keeping the
// transition time of conditions whose status did not change.
func podConditions(old []corev1.PodCondition, spec *corev1.PodSpec, phase corev1.PodPhase, init, app []corev1.ContainerStatus, now metav1.Time) []corev1.PodCondition {
	var notInit, notReady []string
	for _, s := range init {
		if t := s.State.Terminated; t == nil || t.ExitCode != 0 {
			notInit = append(notInit, s.Name)
		}
	}
	for _, s := range app {
		if !s.Ready {
			notReady = append(notReady, s.Name)
		}
	}
	initialized := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if len(notInit) > 0 && phase != corev1.PodSucceeded {
		initialized.Status = corev1.ConditionFalse
		initialized.Reason = ReasonContainersNotInit
		initialized.Message = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(notInit, " "))
	}
	ready := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	switch {
	case phase == corev1.PodSucceeded || phase == corev1.PodFailed:
		ready.Status = corev1.ConditionFalse
		ready.Reason = ReasonPodCompleted
	case len(notInit) > 0:
		ready.Status = corev1.ConditionFalse
		ready.Reason = ReasonContainersNotInit
		ready.Message = initialized.Message
	case len(notReady) > 0:
		ready.Status = corev1.ConditionFalse
		ready.Reason = ReasonContainersNotReady
		ready.Message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	podReady := ready
	podReady.Type = corev1.PodReady
	for _, g := range spec.ReadinessGates {
		if c := findCondition(old, g.ConditionType); c == nil || c.Status != corev1.ConditionTrue {
			podReady.Status = corev1.ConditionFalse
			podReady.Reason = "ReadinessGatesNotReady"
		}
	}
	out := []corev1.PodCondition{}
	if c := findCondition(old, corev1.PodScheduled); c != nil {
		out = append(out, *c)
	} else {
		out = append(out, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	for _, c := range []corev1.PodCondition{initialized, ready, podReady} {
		c.LastTransitionTime = now
		if prev := findCondition(old, c.Type); prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		out = append(out, c)
	}
	// Conditions others own (readiness gates, DisruptionTarget) stay.
	for _, c := range old {
		switch c.Type {
		case corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default:
			out = append(out, c)
		}
	}
	return out
}

func findCondition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// qosClass is upstream's GetPodQOS: Guaranteed when every container has
// equal cpu and memory requests and limits, BestEffort when none has any.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	any, guaranteed := false, true
	for _, c := range all {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			any = true
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			lim, ok := c.Resources.Limits[r]
			if !ok {
				guaranteed = false
				continue
			}
			if req, ok := c.Resources.Requests[r]; ok && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
