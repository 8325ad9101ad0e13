package cronjob

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// parseSchedule parses spec.schedule (standard five fields or @hourly
// style descriptors) in spec.timeZone, defaulting to the controller's
// local zone as upstream does.
func parseSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	spec := cj.Spec.Schedule
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return nil, fmt.Errorf("invalid timeZone %q: %w", *cj.Spec.TimeZone, err)
		}
		spec = "TZ=" + *cj.Spec.TimeZone + " " + spec
	}
	return cron.ParseStandard(spec)
}

// maxMissed is how many missed schedules are tolerated before the
// controller reports TooManyMissedTimes instead of trying to catch up: a
// badly wrong clock must not make it walk decades of minutes.
const maxMissed = 100

// errTooManyMissed is returned with the most recent time when more than
// maxMissed schedules were missed.
var errTooManyMissed = errors.New("too many missed start times")

// mostRecentScheduleTime returns the latest schedule time in
// (earliest, now], nil if there is none. earliest is lastScheduleTime (or
// creation), moved up to now-startingDeadlineSeconds when that's later,
// as upstream's cronjob/utils.go mostRecentScheduleTime.
func mostRecentScheduleTime(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) (*time.Time, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if deadline := now.Add(-time.Duration(*sds) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	t1 := sched.Next(earliest)
	if t1.IsZero() || t1.After(now) {
		return nil, nil
	}
	t2 := sched.Next(t1)
	if t2.IsZero() || t2.After(now) {
		return &t1, nil
	}
	// Skip ahead by the interval between two schedules rather than walking
	// each one; back up one interval more so irregular schedules
	// ("30 6-16/4 * * 1-5") still land on a real time.
	interval := t2.Sub(t1).Round(time.Second)
	if interval < time.Second {
		return nil, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	missed := int64(now.Sub(t1)/interval) + 1
	from := t1.Add(time.Duration(missed-2) * interval)
	if from.Before(earliest) {
		from = earliest
	}
	var recent time.Time
	for t := sched.Next(from); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		recent = t
	}
	if recent.IsZero() {
		recent = t1
	}
	if missed > maxMissed {
		return &recent, errTooManyMissed
	}
	return &recent, nil
}

// nextScheduleDelay is how long until the schedule after now, plus 100ms
// so the controller wakes up just after it, not just before.
func nextScheduleDelay(sched cron.Schedule, now time.Time) time.Duration {
	return sched.Next(now).Sub(now) + 100*time.Millisecond
}

// jobName is "<cronjob>-<scheduled time in minutes since the epoch>":
// deterministic, so two controllers (or a retry) can't start a schedule twice.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}
