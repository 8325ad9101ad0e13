package job

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Condition messages, as upstream (pkg/controller/job/job_controller.go).
const (
	msgBackoffLimit     = "Job has reached the specified backoff limit"
	msgDeadline         = "Job was active longer than specified deadline"
	msgCompletions      = "Reached expected number of succeeded pods"
	reasonSuspended     = "JobSuspended"
	reasonResumed       = "JobResumed"
	defaultBackoffLimit = 6
	// Pod re-creation back-off after failures: 10s doubling, at most 6min.
	backoffBase = 10 * time.Second
	backoffMax  = 6 * time.Minute
)

func parallelism(j *batchv1.Job) int32 {
	if j.Spec.Parallelism == nil {
		return 1
	}
	return *j.Spec.Parallelism
}

func backoffLimit(j *batchv1.Job) int32 {
	if j.Spec.BackoffLimit == nil {
		return defaultBackoffLimit
	}
	return *j.Spec.BackoffLimit
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func suspended(j *batchv1.Job) bool { return j.Spec.Suspend != nil && *j.Spec.Suspend }

func getCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func hasTrueCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) bool {
	c := getCondition(st, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// finished reports whether the Job reached Complete or Failed.
func finished(j *batchv1.Job) bool {
	return hasTrueCondition(&j.Status, batchv1.JobComplete) || hasTrueCondition(&j.Status, batchv1.JobFailed)
}

// setCondition sets t to status/reason/message, keeping lastTransitionTime
// when the status doesn't change. It reports whether anything changed.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) bool {
	ts := metav1.NewTime(now)
	if c := getCondition(st, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = ts
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, ts
		return true
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: msg, LastProbeTime: ts, LastTransitionTime: ts})
	return true
}

// wantActive is how many pods should run now.
func wantActive(j *batchv1.Job, succeeded, active int32) int32 {
	if j.Spec.Completions == nil {
		if succeeded > 0 {
			return min(active, parallelism(j)) // no new work once one succeeded
		}
		return parallelism(j)
	}
	return max(min(*j.Spec.Completions-succeeded, parallelism(j)), 0)
}

// backoffDelay is how long to wait before re-creating pods after
// failures consecutive failures (10s, 20s, 40s, ... capped at 6min).
func backoffDelay(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := backoffBase
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// finishTime is when a finished pod stopped: its last container's
// termination, else the Ready condition's transition, else its creation.
func finishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated != nil && cs.State.Terminated.FinishedAt.After(t) {
			t = cs.State.Terminated.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return p.CreationTimestamp.Time
}

// failuresSinceSuccess counts failed pods that finished after the newest
// success and returns the newest failure's time.
func failuresSinceSuccess(pods []*corev1.Pod) (int, time.Time) {
	var lastSuccess, lastFailure time.Time
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded && finishTime(p).After(lastSuccess) {
			lastSuccess = finishTime(p)
		}
	}
	n := 0
	for _, p := range pods {
		if p.Status.Phase != corev1.PodFailed {
			continue
		}
		if ft := finishTime(p); ft.After(lastSuccess) {
			n++
			if ft.After(lastFailure) {
				lastFailure = ft
			}
		}
	}
	return n, lastFailure
}

// podIndex is the completion index of an Indexed Job's pod, or -1.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// parseIndexes reads status.completedIndexes ("1,3-5,7").
func parseIndexes(s string, completions int32) sets.Set[int] {
	out := sets.New[int]()
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && i < int(completions); i++ {
			out.Insert(i)
		}
	}
	return out
}

// formatIndexes writes indexes in completedIndexes form.
func formatIndexes(idx sets.Set[int]) string {
	list := sets.List(idx)
	sort.Ints(list)
	var parts []string
	for i := 0; i < len(list); {
		j := i
		for j+1 < len(list) && list[j+1] == list[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(list[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", list[i], list[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// pendingIndexes returns up to n indexes below completions that neither
// succeeded nor have an active pod, lowest first.
func pendingIndexes(completions int32, done sets.Set[int], active []*corev1.Pod, n int) []int {
	busy := sets.New[int]()
	for _, p := range active {
		busy.Insert(podIndex(p))
	}
	var out []int
	for i := 0; i < int(completions) && len(out) < n; i++ {
		if !done.Has(i) && !busy.Has(i) {
			out = append(out, i)
		}
	}
	return out
}

// policyAction is what podFailurePolicy says about a failed pod.
type policyAction struct {
	action batchv1.PodFailurePolicyAction // "" when no rule matched
	msg    string
}

// matchPodFailurePolicy evaluates the rules in order against a failed pod
// (upstream pod_failure_policy.go): onExitCodes looks at terminated
// containers' exit codes (non-zero), onPodConditions at True pod conditions.
func matchPodFailurePolicy(pfp *batchv1.PodFailurePolicy, p *corev1.Pod) policyAction {
	if pfp == nil {
		return policyAction{}
	}
	for i, rule := range pfp.Rules {
		if r := rule.OnExitCodes; r != nil {
			for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
				term := cs.State.Terminated
				if term == nil || term.ExitCode == 0 || (r.ContainerName != nil && *r.ContainerName != cs.Name) {
					continue
				}
				in := false
				for _, v := range r.Values {
					if v == term.ExitCode {
						in = true
					}
				}
				if (r.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
					return policyAction{rule.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %v rule at index %d", cs.Name, p.Namespace, p.Name, term.ExitCode, rule.Action, i)}
				}
			}
		}
		for _, pc := range rule.OnPodConditions {
			for _, c := range p.Status.Conditions {
				if c.Type == pc.Type && c.Status == pc.Status {
					return policyAction{rule.Action, fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d", p.Namespace, p.Name, c.Type, rule.Action, i)}
				}
			}
		}
	}
	return policyAction{}
}
