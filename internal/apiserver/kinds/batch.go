package kinds

import (
	"fmt"
	"strings"
	"time"
	// Time zones are checked against Go's embedded database, so a valid
	// zone does not depend on the host having /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Jobs and CronJobs: upstream pkg/apis/batch/v1/defaults.go, the job
// strategy's generated selector, pkg/apis/batch/validation, printJob and
// printCronJob.

// The labels upstream's job strategy puts on a Job's pods; the legacy
// unprefixed pair is still written for old selectors.
const (
	jobControllerUIDLabel       = "batch.kubernetes.io/controller-uid"
	jobNameLabel                = "batch.kubernetes.io/job-name"
	legacyJobControllerUIDLabel = "controller-uid"
	legacyJobNameLabel          = "job-name"
)

func jobColumns(sd map[string]string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn, str("Status", "Status of the job."),
		str("Completions", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]), str("Duration", "Time required to complete the job."),
		ageColumn, containersColumn, imagesColumn, wide("Selector", sd["selector"])}
}

func jobKind(k *Kind) {
	k.Columns = jobColumns(batchv1.JobSpec{}.SwaggerDoc())
	k.Row = func(obj runtime.Object) []interface{} { return jobRow(obj.(*batchv1.Job)) }
	k.Default = func(obj runtime.Object) { defaultJob(obj.(*batchv1.Job)) }
	k.PrepareForCreate = func(obj runtime.Object) {
		job := obj.(*batchv1.Job)
		job.Status = batchv1.JobStatus{}
		generateJobSelector(job)
	}
	k.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.successful": fmt.Sprint(obj.(*batchv1.Job).Status.Succeeded)}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		job := obj.(*batchv1.Job)
		return validateJobSpec(&job.Spec, field.NewPath("spec"))
	}, func(obj, old runtime.Object) field.ErrorList {
		job, o := obj.(*batchv1.Job), old.(*batchv1.Job)
		spec := field.NewPath("spec")
		var errs field.ErrorList
		if !apiequality.Semantic.DeepEqual(job.Spec.Selector, o.Spec.Selector) {
			errs = append(errs, field.Invalid(spec.Child("selector"), job.Spec.Selector, "field is immutable"))
		}
		if !apiequality.Semantic.DeepEqual(job.Spec.Template, o.Spec.Template) {
			errs = append(errs, field.Invalid(spec.Child("template"), job.Spec.Template, "field is immutable"))
		}
		if !apiequality.Semantic.DeepEqual(job.Spec.Completions, o.Spec.Completions) && !indexedElastic(job, o) {
			errs = append(errs, field.Invalid(spec.Child("completions"), job.Spec.Completions, "field is immutable"))
		}
		if !apiequality.Semantic.DeepEqual(job.Spec.CompletionMode, o.Spec.CompletionMode) {
			errs = append(errs, field.Invalid(spec.Child("completionMode"), job.Spec.CompletionMode, "field is immutable"))
		}
		return errs
	})
}

// indexedElastic: Indexed jobs may change completions together with
// parallelism, keeping them equal.
func indexedElastic(job, old *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion &&
		job.Spec.Completions != nil && job.Spec.Parallelism != nil && *job.Spec.Completions == *job.Spec.Parallelism
}

func defaultJob(job *batchv1.Job) {
	s := &job.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = int32Ptr(1)
	}
	if s.Parallelism == nil {
		s.Parallelism = int32Ptr(1)
	}
	if s.BackoffLimit == nil {
		s.BackoffLimit = int32Ptr(6)
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = int32Ptr(1<<31 - 1)
		}
	}
	if len(job.Labels) == 0 {
		job.Labels = copyLabels(s.Template.Labels)
	}
	if s.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		s.CompletionMode = &m
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.PodReplacementPolicy == nil {
		p := batchv1.TerminatingOrFailed
		if s.PodFailurePolicy != nil {
			p = batchv1.Failed
		}
		s.PodReplacementPolicy = &p
	}
	if s.ManualSelector == nil {
		f := false
		s.ManualSelector = &f
	}
	defaultPodSpec(&s.Template.Spec)
}

// generateJobSelector is upstream's job strategy: unless manualSelector,
// select the job's pods by its uid and label the template to match. A uid
// is assigned here if the caller has not yet, so the two agree.
func generateJobSelector(job *batchv1.Job) {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	if job.UID == "" {
		job.UID = types.UID(uuid.NewUUID())
	}
	uid := string(job.UID)
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	tl := job.Spec.Template.Labels
	tl[jobControllerUIDLabel], tl[legacyJobControllerUIDLabel] = uid, uid
	tl[jobNameLabel], tl[legacyJobNameLabel] = job.Name, job.Name
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: uid}}
}

func validateJobSpec(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    *int32
	}{{"parallelism", s.Parallelism}, {"completions", s.Completions}, {"backoffLimit", s.BackoffLimit}} {
		if f.v != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*f.v), p.Child(f.name))...)
		}
	}
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "must be greater than 0"))
	}
	if s.Selector == nil {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
		if sel, err := metav1.LabelSelectorAsSelector(s.Selector); err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
			errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, validatePodTemplateSpec(&s.Template, p.Child("template"))...)
	switch s.Template.Spec.RestartPolicy {
	case corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	case "":
		errs = append(errs, field.Required(p.Child("template", "spec", "restartPolicy"), `valid values: "OnFailure", "Never"`))
	default:
		errs = append(errs, field.NotSupported(p.Child("template", "spec", "restartPolicy"), s.Template.Spec.RestartPolicy,
			[]string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	}
	return errs
}

// jobRow is upstream's printJob.
func jobRow(job *batchv1.Job) []interface{} {
	var completions string
	switch {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case job.Spec.Parallelism != nil && *job.Spec.Parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *job.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}
	var jobDuration string
	switch {
	case job.Status.StartTime == nil:
	case job.Status.CompletionTime == nil:
		jobDuration = duration.HumanDuration(now().Sub(job.Status.StartTime.Time))
	default:
		jobDuration = duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}
	status := "Running"
	switch {
	case jobCondition(job, batchv1.JobComplete):
		status = "Complete"
	case jobCondition(job, batchv1.JobFailed):
		status = "Failed"
	case job.DeletionTimestamp != nil:
		status = "Terminating"
	case jobCondition(job, batchv1.JobSuspended):
		status = "Suspended"
	case jobCondition(job, batchv1.JobFailureTarget):
		status = "FailureTarget"
	}
	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return []interface{}{job.Name, status, completions, jobDuration, age(job.CreationTimestamp), names, images, metav1.FormatLabelSelector(job.Spec.Selector)}
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func cronJobKind(k *Kind) {
	sd, std := batchv1.CronJobSpec{}.SwaggerDoc(), batchv1.CronJobStatus{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Schedule", sd["schedule"]), str("Timezone", sd["timeZone"]),
		{Name: "Suspend", Type: "boolean", Description: sd["suspend"]}, num("Active", std["active"]),
		str("Last Schedule", std["lastScheduleTime"]), ageColumn, containersColumn, imagesColumn,
		wide("Selector", batchv1.JobSpec{}.SwaggerDoc()["selector"])}
	k.Row = func(obj runtime.Object) []interface{} {
		cj := obj.(*batchv1.CronJob)
		last := "<none>"
		if cj.Status.LastScheduleTime != nil {
			last = age(*cj.Status.LastScheduleTime)
		}
		tz := "<none>"
		if cj.Spec.TimeZone != nil {
			tz = *cj.Spec.TimeZone
		}
		suspend := "<unset>"
		if cj.Spec.Suspend != nil {
			suspend = fmt.Sprint(*cj.Spec.Suspend)
		}
		names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
		return []interface{}{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, age(cj.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector)}
	}
	k.Default = func(obj runtime.Object) {
		cj := obj.(*batchv1.CronJob)
		if cj.Spec.ConcurrencyPolicy == "" {
			cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
		}
		if cj.Spec.Suspend == nil {
			f := false
			cj.Spec.Suspend = &f
		}
		if cj.Spec.SuccessfulJobsHistoryLimit == nil {
			cj.Spec.SuccessfulJobsHistoryLimit = int32Ptr(3)
		}
		if cj.Spec.FailedJobsHistoryLimit == nil {
			cj.Spec.FailedJobsHistoryLimit = int32Ptr(1)
		}
		defaultPodSpec(&cj.Spec.JobTemplate.Spec.Template.Spec)
	}
	k.PrepareForCreate = func(obj runtime.Object) { obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{} }
	setValidation(k, cronJobName, func(obj runtime.Object) field.ErrorList {
		return validateCronJobSpec(&obj.(*batchv1.CronJob).Spec)
	}, nil)
}

// cronJobName leaves room for the 11-character suffix of the jobs a
// CronJob creates: upstream allows at most 52 characters.
func cronJobName(name string, prefix bool) []string {
	msgs := dnsSubdomain(name, prefix)
	if !prefix && len(name) > 52 {
		msgs = append(msgs, "must be no more than 52 characters")
	}
	return msgs
}

func validateCronJobSpec(s *batchv1.CronJobSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if s.Schedule == "" {
		errs = append(errs, field.Required(spec.Child("schedule"), ""))
	} else if strings.Contains(s.Schedule, "TZ") {
		errs = append(errs, field.Invalid(spec.Child("schedule"), s.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	} else if _, err := cron.ParseStandard(s.Schedule); err != nil {
		errs = append(errs, field.Invalid(spec.Child("schedule"), s.Schedule, err.Error()))
	}
	if s.TimeZone != nil {
		if _, err := time.LoadLocation(*s.TimeZone); err != nil || *s.TimeZone == "" || strings.EqualFold(*s.TimeZone, "local") {
			errs = append(errs, field.Invalid(spec.Child("timeZone"), *s.TimeZone, "unknown time zone "+*s.TimeZone))
		}
	}
	switch s.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, field.NotSupported(spec.Child("concurrencyPolicy"), s.ConcurrencyPolicy,
			[]string{string(batchv1.AllowConcurrent), string(batchv1.ForbidConcurrent), string(batchv1.ReplaceConcurrent)}))
	}
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*s.StartingDeadlineSeconds, spec.Child("startingDeadlineSeconds"))...)
	}
	jt := spec.Child("jobTemplate", "spec")
	js := &s.JobTemplate.Spec
	// The CronJob controller generates the selector for each job it creates.
	errs = append(errs, validatePodTemplateSpec(&js.Template, jt.Child("template"))...)
	switch js.Template.Spec.RestartPolicy {
	case corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(jt.Child("template", "spec", "restartPolicy"), js.Template.Spec.RestartPolicy,
			[]string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	}
	return errs
}
