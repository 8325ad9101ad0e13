package cronjob

import (
	"context"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

var created = time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)

func newCronJob(schedule string) *batchv1.CronJob {
	utc := "UTC"
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "default", UID: "tick-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{Schedule: schedule, TimeZone: &utc, ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}},
	}
}

func ts(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestMostRecentScheduleTime(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		last     *time.Time
		sds      *int64
		now      string
		want     *time.Time
		wantErr  error
	}{
		{"nothing due before the first minute", "*/1 * * * *", nil, nil, "2026-11-27T10:00:59Z", nil, nil},
		{"first minute due", "*/1 * * * *", nil, nil, "2026-11-27T10:01:05Z", ts("2026-11-27T10:01:00Z"), nil},
		{"several missed: the latest", "*/1 * * * *", ts("2026-11-27T10:01:00Z"), nil, "2026-11-27T10:05:30Z", ts("2026-11-27T10:05:00Z"), nil},
		{"@hourly", "@hourly", nil, nil, "2026-11-27T12:30:00Z", ts("2026-11-27T12:00:00Z"), nil},
		{"irregular schedule", "30 6-16/4 * * 1-5", nil, nil, "2026-11-27T15:00:00Z", ts("2026-11-27T14:30:00Z"), nil},
		{"starting deadline hides old times", "0 * * * *", nil, ptr(int64(600)), "2026-11-27T12:30:00Z", nil, nil},
		{"too many missed", "*/1 * * * *", nil, nil, "2026-11-27T13:00:30Z", ts("2026-11-27T13:00:00Z"), errTooManyMissed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob(tc.schedule)
			cj.Spec.StartingDeadlineSeconds = tc.sds
			if tc.last != nil {
				l := metav1.NewTime(*tc.last)
				cj.Status.LastScheduleTime = &l
			}
			sched, err := parseSchedule(cj)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mostRecentScheduleTime(cj, sched, *ts(tc.now))
			if err != tc.wantErr {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
				t.Errorf("mostRecentScheduleTime() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseScheduleRejects(t *testing.T) {
	for _, s := range []string{"61 * * * *", "not a schedule", "* * * *"} {
		if _, err := parseSchedule(newCronJob(s)); err == nil {
			t.Errorf("parseSchedule(%q) = nil error", s)
		}
	}
	cj := newCronJob("* * * * *")
	bad := "Mars/Olympus"
	cj.Spec.TimeZone = &bad
	if _, err := parseSchedule(cj); err == nil {
		t.Errorf("parseSchedule with timeZone %q = nil error", bad)
	}
}

func ptr[T any](v T) *T { return &v }

func runSync(t *testing.T, cj *batchv1.CronJob, now time.Time, jobs ...*batchv1.Job) (*Controller, *fake.Clientset) {
	t.Helper()
	objs := []runtime.Object{cj}
	for _, j := range jobs {
		objs = append(objs, j)
	}
	cs := fake.NewSimpleClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.clock = clocktesting.NewFakeClock(now)
	if err := inf.Batch().V1().CronJobs().Informer().GetIndexer().Add(cj); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := inf.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.sync(context.Background(), "default/tick"); err != nil {
		t.Fatal(err)
	}
	return c, cs
}

func TestSyncCreatesJob(t *testing.T) {
	now := *ts("2026-11-27T10:01:02Z")
	_, cs := runSync(t, newCronJob("*/1 * * * *"), now)
	want := "tick-29929561" // 2026-11-27T10:01:00Z in minutes since the epoch
	j, err := cs.BatchV1().Jobs("default").Get(context.Background(), want, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job %s: %v", want, err)
	}
	if j.Annotations[scheduledAnnotation] != "2026-11-27T10:01:00Z" {
		t.Errorf("scheduled annotation = %q", j.Annotations[scheduledAnnotation])
	}
	cj, _ := cs.BatchV1().CronJobs("default").Get(context.Background(), "tick", metav1.GetOptions{})
	if len(cj.Status.Active) != 1 || cj.Status.LastScheduleTime == nil || !cj.Status.LastScheduleTime.Time.Equal(*ts("2026-11-27T10:01:00Z")) {
		t.Errorf("status = %+v, want one active job and lastScheduleTime 10:01", cj.Status)
	}
}

func ownedJob(cj *batchv1.CronJob, name string, done batchv1.JobConditionType, start time.Time) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
		OwnerReferences: []metav1.OwnerReference{*ctrlutil.NewControllerRef(cj, kind)}}}
	st := metav1.NewTime(start)
	j.Status.StartTime = &st
	if done != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: done, Status: corev1.ConditionTrue}}
		j.Status.CompletionTime = &st
	}
	return j
}

func TestSyncForbidAndHistory(t *testing.T) {
	now := *ts("2026-11-27T10:05:02Z")
	cj := newCronJob("*/1 * * * *")
	cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	last := metav1.NewTime(*ts("2026-11-27T10:04:00Z"))
	cj.Status.LastScheduleTime = &last
	running := ownedJob(cj, "tick-running", "", now.Add(-time.Minute))
	var jobs []*batchv1.Job
	jobs = append(jobs, running)
	for i, n := range []string{"a", "b", "c", "d"} {
		jobs = append(jobs, ownedJob(cj, "tick-"+n, batchv1.JobComplete, now.Add(time.Duration(i-10)*time.Minute)))
	}
	_, cs := runSync(t, cj, now, jobs...)
	var creates, deletes []string
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "create":
			creates = append(creates, a.GetResource().Resource)
		case "delete":
			deletes = append(deletes, a.GetResource().Resource)
		}
	}
	if len(creates) != 0 {
		t.Errorf("Forbid with a running job created %v", creates)
	}
	// Default successfulJobsHistoryLimit 3: the oldest of four goes.
	if len(deletes) != 1 {
		t.Errorf("deleted %v, want the one oldest finished job", deletes)
	}
	if _, err := cs.BatchV1().Jobs("default").Get(context.Background(), "tick-a", metav1.GetOptions{}); err == nil {
		t.Errorf("oldest finished job tick-a still exists")
	}
}
