package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestBackoffDelay(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second}, {10, 6 * time.Minute}} {
		if got := backoffDelay(tc.failures); got != tc.want {
			t.Errorf("backoffDelay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestIndexesRoundTrip(t *testing.T) {
	for _, s := range []string{"", "0", "0-2", "1,3-5,7"} {
		if got := formatIndexes(parseIndexes(s, 10)); got != s {
			t.Errorf("formatIndexes(parseIndexes(%q)) = %q", s, got)
		}
	}
	if got := parseIndexes("0-9", 3); got.Len() != 3 {
		t.Errorf("parseIndexes beyond completions kept %v", sets.List(got))
	}
}

func TestMatchPodFailurePolicy(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 42}}}}}}
	pfp := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	}}
	got := matchPodFailurePolicy(pfp, pod)
	want := "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
	if got.action != batchv1.PodFailurePolicyActionFailJob || got.msg != want {
		t.Errorf("matchPodFailurePolicy() = %+v, want FailJob %q", got, want)
	}
}

func TestTimeLeft(t *testing.T) {
	ttl := int32(100)
	j := &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: &ttl}}
	if _, err := timeLeft(j, now); err == nil {
		t.Error("Error case: Job unfinished: timeLeft() err = nil")
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-30 * time.Second))}}
	if left, err := timeLeft(j, now); err != nil || left != 70*time.Second {
		t.Errorf("timeLeft() = %v, %v; want 70s", left, err)
	}
}

type fakePodControl struct {
	mu      sync.Mutex
	created []*corev1.Pod
	deleted []string
}

func (f *fakePodControl) CreatePod(_ context.Context, _ string, tmpl *corev1.PodTemplateSpec, _ runtime.Object, ref *metav1.OwnerReference, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
	p := ctrlutil.PodFromTemplate(tmpl, ref)
	if mutate != nil {
		mutate(p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, p)
	return p, nil
}

func (f *fakePodControl) DeletePod(_ context.Context, _, name string, _ types.UID, _ runtime.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, name)
	return nil
}

func newJob(completions, parallelism int32, indexed bool) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "default", UID: "work-uid"},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "work-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{batchv1.ControllerUidLabel: "work-uid"}},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if indexed {
		m := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &m
	}
	return j
}

func jobPod(j *batchv1.Job, name string, phase corev1.PodPhase, idx int) *corev1.Pod {
	p := ctrlutil.PodFromTemplate(&j.Spec.Template, ctrlutil.NewControllerRef(j, kind))
	p.Name, p.Namespace, p.UID = name, "default", types.UID(name)
	p.Finalizers = []string{batchv1.JobTrackingFinalizer}
	p.Status.Phase = phase
	p.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
	if idx >= 0 {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(idx)}
	}
	return p
}

func runSync(t *testing.T, j *batchv1.Job, pods ...*corev1.Pod) (*fakePodControl, *batchv1.Job) {
	t.Helper()
	objs := []runtime.Object{j}
	for _, p := range pods {
		objs = append(objs, p)
	}
	cs := fake.NewSimpleClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pc := &fakePodControl{}
	c.podControl = pc
	c.clock = clocktesting.NewFakeClock(now)
	if err := inf.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if err := inf.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.sync(context.Background(), "default/work"); err != nil {
		t.Fatal(err)
	}
	got, err := cs.BatchV1().Jobs("default").Get(context.Background(), "work", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pc, got
}

func TestSyncStartsParallelismPods(t *testing.T) {
	pc, got := runSync(t, newJob(5, 2, false))
	if len(pc.created) != 2 {
		t.Fatalf("created %d pods, want 2", len(pc.created))
	}
	if f := pc.created[0].Finalizers; len(f) != 1 || f[0] != batchv1.JobTrackingFinalizer {
		t.Errorf("pod finalizers = %v, want the job-tracking finalizer", f)
	}
	if got.Status.StartTime == nil || got.Status.Active != 2 {
		t.Errorf("status = %+v, want startTime set and active 2", got.Status)
	}
}

func TestSyncCountsAndCompletes(t *testing.T) {
	j := newJob(2, 2, false)
	pc, got := runSync(t, j, jobPod(j, "a", corev1.PodSucceeded, -1), jobPod(j, "b", corev1.PodSucceeded, -1))
	if len(pc.created) != 0 {
		t.Errorf("created %d pods after completion, want 0", len(pc.created))
	}
	if got.Status.Succeeded != 2 || !hasTrueCondition(&got.Status, batchv1.JobSuccessCriteriaMet) || !hasTrueCondition(&got.Status, batchv1.JobComplete) {
		t.Errorf("status = %+v, want succeeded 2, SuccessCriteriaMet and Complete", got.Status)
	}
	if c := getCondition(&got.Status, batchv1.JobComplete); c.Reason != batchv1.JobReasonCompletionsReached || got.Status.CompletionTime == nil {
		t.Errorf("Complete = %+v completionTime %v, want reason CompletionsReached and a completion time", c, got.Status.CompletionTime)
	}
}

func TestSyncBackoffLimit(t *testing.T) {
	j := newJob(1, 1, false)
	zero := int32(0)
	j.Spec.BackoffLimit = &zero
	_, got := runSync(t, j, jobPod(j, "a", corev1.PodFailed, -1))
	c := getCondition(&got.Status, batchv1.JobFailed)
	if got.Status.Failed != 1 || c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded || c.Message != msgBackoffLimit {
		t.Errorf("status = %+v, want failed 1 and Failed/BackoffLimitExceeded", got.Status)
	}
	if !hasTrueCondition(&got.Status, batchv1.JobFailureTarget) {
		t.Errorf("no FailureTarget condition: %+v", got.Status.Conditions)
	}
}

func TestSyncBacksOffAfterFailure(t *testing.T) {
	j := newJob(1, 1, false)
	failed := jobPod(j, "a", corev1.PodFailed, -1)
	failed.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(now.Add(-5 * time.Second))}}}}
	pc, _ := runSync(t, j, failed)
	if len(pc.created) != 0 {
		t.Errorf("re-created a pod 5s after the first failure, want a 10s back-off")
	}
}

func TestSyncIndexed(t *testing.T) {
	j := newJob(3, 2, true)
	pc, got := runSync(t, j, jobPod(j, "zero", corev1.PodSucceeded, 0))
	if got.Status.CompletedIndexes != "0" || got.Status.Succeeded != 1 {
		t.Errorf("completedIndexes = %q succeeded %d, want \"0\" and 1", got.Status.CompletedIndexes, got.Status.Succeeded)
	}
	var idx []string
	for _, p := range pc.created {
		idx = append(idx, p.Annotations[batchv1.JobCompletionIndexAnnotation]+"/"+p.Spec.Hostname)
	}
	if len(idx) != 2 || idx[0] != "1/work-1" || idx[1] != "2/work-2" {
		t.Errorf("created index/hostname %v, want [1/work-1 2/work-2]", idx)
	}
}
