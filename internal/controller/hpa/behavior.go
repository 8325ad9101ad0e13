package hpa

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Stabilization windows and scaling policies, as upstream's
// normalizeDesiredReplicasWithBehaviors: pure functions of a per-HPA
// history and the clock.

// defaultDownscaleStabilization is kube-controller-manager's
// --horizontal-pod-autoscaler-downscale-stabilization default.
const defaultDownscaleStabilization = 300 * time.Second

// scalingRules fills the behavior's unset fields with the API's defaults
// (upstream's SetDefaults_HorizontalPodAutoscalerBehavior): scale up by
// the larger of 4 pods or 100% per 15 s at once; scale down by up to 100%
// per 15 s after a 300 s stabilization window.
func scalingRules(b *autoscalingv2.HorizontalPodAutoscalerBehavior) (up, down autoscalingv2.HPAScalingRules) {
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	up = autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr(int32(0)),
		SelectPolicy:               &maxPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
	down = autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr(int32(defaultDownscaleStabilization / time.Second)),
		SelectPolicy:               &maxPolicy,
		Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	}
	if b == nil {
		return up, down
	}
	merge := func(dst *autoscalingv2.HPAScalingRules, src *autoscalingv2.HPAScalingRules) {
		if src == nil {
			return
		}
		if src.StabilizationWindowSeconds != nil {
			dst.StabilizationWindowSeconds = src.StabilizationWindowSeconds
		}
		if src.SelectPolicy != nil {
			dst.SelectPolicy = src.SelectPolicy
		}
		if len(src.Policies) > 0 {
			dst.Policies = src.Policies
		}
	}
	merge(&up, b.ScaleUp)
	merge(&down, b.ScaleDown)
	return up, down
}

func ptr[T any](v T) *T { return &v }

type recommendation struct {
	replicas int32
	at       time.Time
}

type scaleEvent struct {
	change int32
	at     time.Time
}

// history is what the controller remembers of one HPA between syncs. Like
// upstream it lives in memory only: after a restart the first sync seeds
// it with the current replica count, so nothing scales down for one
// stabilization window.
type history struct {
	recommendations []recommendation
	ups, downs      []scaleEvent
}

// normalized is a stabilized, rate-limited recommendation with the
// condition reasons that explain it.
type normalized struct {
	replicas                  int32
	ableReason, ableMessage   string // AbleToScale=True
	limited                   bool   // ScalingLimited status
	limitReason, limitMessage string
}

// seed records the current count as a recommendation if there is none yet.
func (h *history) seed(now time.Time, current int32) {
	if len(h.recommendations) == 0 {
		h.recommendations = append(h.recommendations, recommendation{current, now})
	}
}

// normalize turns the metrics' recommendation into the count to apply and
// records the recommendation.
func (h *history) normalize(now time.Time, up, down autoscalingv2.HPAScalingRules, minReplicas, maxReplicas, current, desired int32) normalized {
	var n normalized
	stabilized := h.stabilize(now, up, down, current, desired)
	if stabilized != desired {
		if desired >= current {
			n.ableReason, n.ableMessage = "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
		} else {
			n.ableReason, n.ableMessage = "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
		}
	} else {
		n.ableReason, n.ableMessage = "ReadyForNewScale", "recommended size matches current size"
	}
	n.replicas, n.limitReason, n.limitMessage = h.limitRate(now, up, down, minReplicas, maxReplicas, current, stabilized)
	n.limited = n.replicas != stabilized
	return n
}

// stabilize bounds desired by the recommendations inside each window: up
// to the lowest of the scale-up window, down to the highest of the
// scale-down window.
func (h *history) stabilize(now time.Time, up, down autoscalingv2.HPAScalingRules, current, desired int32) int32 {
	upCutoff := now.Add(-time.Duration(*up.StabilizationWindowSeconds) * time.Second)
	downCutoff := now.Add(-time.Duration(*down.StabilizationWindowSeconds) * time.Second)
	upRec, downRec := desired, desired
	kept := h.recommendations[:0]
	for _, r := range h.recommendations {
		if r.at.After(upCutoff) {
			upRec = min(upRec, r.replicas)
		}
		if r.at.After(downCutoff) {
			downRec = max(downRec, r.replicas)
		}
		if r.at.After(upCutoff) || r.at.After(downCutoff) {
			kept = append(kept, r)
		}
	}
	h.recommendations = append(kept, recommendation{desired, now})
	return min(max(current, upRec), downRec)
}

// limitRate applies min/maxReplicas and the scaling policies.
func (h *history) limitRate(now time.Time, up, down autoscalingv2.HPAScalingRules, minReplicas, maxReplicas, current, desired int32) (int32, string, string) {
	switch {
	case desired > current:
		limit := max(h.scaleUpLimit(now, up, current), current)
		allowed, reason, msg := maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if allowed > limit {
			allowed, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > allowed {
			return allowed, reason, msg
		}
	case desired < current:
		limit := min(h.scaleDownLimit(now, down, current), current)
		allowed, reason, msg := minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if allowed < limit {
			allowed, reason, msg = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if desired < allowed {
			return allowed, reason, msg
		}
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// changeSince sums the events of the last period seconds.
func changeSince(now time.Time, period int32, events []scaleEvent) int32 {
	cutoff := now.Add(-time.Duration(period) * time.Second)
	var sum int32
	for _, e := range events {
		if e.at.After(cutoff) {
			sum += e.change
		}
	}
	return sum
}

// scaleUpLimit is the highest count the policies allow: each policy counts
// from the replicas at the start of its period (Max picks the most
// permissive policy, Min the least, Disabled forbids scaling up).
func (h *history) scaleUpLimit(now time.Time, r autoscalingv2.HPAScalingRules, current int32) int32 {
	if *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	minChange := *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
	result := int32(math.MinInt32)
	if minChange {
		result = math.MaxInt32
	}
	for _, p := range r.Policies {
		start := current - changeSince(now, p.PeriodSeconds, h.ups) + changeSince(now, p.PeriodSeconds, h.downs)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start + p.Value
		} else {
			// Rounded up so a small target still grows.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		if minChange {
			result = min(result, proposed)
		} else {
			result = max(result, proposed)
		}
	}
	return result
}

// scaleDownLimit is the lowest count the policies allow.
func (h *history) scaleDownLimit(now time.Time, r autoscalingv2.HPAScalingRules, current int32) int32 {
	if *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	minChange := *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
	result := int32(math.MaxInt32)
	if minChange {
		result = math.MinInt32
	}
	for _, p := range r.Policies {
		start := current - changeSince(now, p.PeriodSeconds, h.ups) + changeSince(now, p.PeriodSeconds, h.downs)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start - p.Value
		} else {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		if minChange {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// recordScale remembers a change of the target's count for the policies,
// forgetting events older than the longest policy period.
func (h *history) recordScale(now time.Time, up, down autoscalingv2.HPAScalingRules, from, to int32) {
	var longest int32
	for _, p := range append(append([]autoscalingv2.HPAScalingPolicy{}, up.Policies...), down.Policies...) {
		longest = max(longest, p.PeriodSeconds)
	}
	prune := func(events []scaleEvent) []scaleEvent {
		cutoff := now.Add(-time.Duration(longest) * time.Second)
		kept := events[:0]
		for _, e := range events {
			if e.at.After(cutoff) {
				kept = append(kept, e)
			}
		}
		return kept
	}
	h.ups, h.downs = prune(h.ups), prune(h.downs)
	if to > from {
		h.ups = append(h.ups, scaleEvent{to - from, now})
	} else if to < from {
		h.downs = append(h.downs, scaleEvent{from - to, now})
	}
}
