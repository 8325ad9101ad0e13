package hpa

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func TestNormalize(t *testing.T) {
	disabled := autoscalingv2.DisabledPolicySelect
	tests := []struct {
		name              string
		behavior          *autoscalingv2.HorizontalPodAutoscalerBehavior
		hist              history
		min, max          int32
		current, desired  int32
		want              int32
		wantAble, wantLim string
	}{
		{"scale-down held by a recommendation 60 s old", nil, history{recommendations: []recommendation{{5, now.Add(-time.Minute)}}},
			1, 10, 5, 2, 5, "ScaleDownStabilized", "DesiredWithinRange"},
		{"scale-down after the 300 s window", nil, history{recommendations: []recommendation{{5, now.Add(-301 * time.Second)}}},
			1, 10, 5, 2, 2, "ReadyForNewScale", "DesiredWithinRange"},
		{"window from behavior", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(30))}},
			history{recommendations: []recommendation{{5, now.Add(-time.Minute)}}}, 1, 10, 5, 2, 2, "ReadyForNewScale", "DesiredWithinRange"},
		{"scale-up at most 4 pods or 100% per 15 s", nil, history{}, 1, 10, 1, 20, 5, "ReadyForNewScale", "ScaleUpLimit"},
		{"scale-up to maxReplicas", nil, history{}, 1, 10, 6, 20, 10, "ReadyForNewScale", "TooManyReplicas"},
		{"scale-up right after one counts from the period's start", nil, history{ups: []scaleEvent{{4, now.Add(-5 * time.Second)}}},
			1, 20, 5, 20, 5, "ReadyForNewScale", "ScaleUpLimit"},
		{"scale-up after the period", nil, history{ups: []scaleEvent{{4, now.Add(-16 * time.Second)}}},
			1, 20, 5, 20, 10, "ReadyForNewScale", "ScaleUpLimit"},
		{"scale-down disabled", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr(int32(0)), SelectPolicy: &disabled}}, history{}, 1, 10, 5, 1, 5, "ReadyForNewScale", "ScaleDownLimit"},
		{"scale-down by at most 1 pod per minute", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr(int32(0)), Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}}},
			history{downs: []scaleEvent{{1, now.Add(-30 * time.Second)}}}, 1, 10, 4, 1, 4, "ReadyForNewScale", "ScaleDownLimit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, down := scalingRules(tc.behavior)
			h := tc.hist
			n := h.normalize(now, up, down, tc.min, tc.max, tc.current, tc.desired)
			if n.replicas != tc.want || n.ableReason != tc.wantAble || n.limitReason != tc.wantLim {
				t.Errorf("normalize = %d (%s, %s), want %d (%s, %s)", n.replicas, n.ableReason, n.limitReason, tc.want, tc.wantAble, tc.wantLim)
			}
			if n.limited != (tc.wantLim != "DesiredWithinRange") {
				t.Errorf("limited = %v with reason %s", n.limited, n.limitReason)
			}
			if last := h.recommendations[len(h.recommendations)-1]; last.replicas != tc.desired || !last.at.Equal(now) {
				t.Errorf("last recommendation = %+v, want %d at now", last, tc.desired)
			}
		})
	}
}

func TestRecordScaleForgetsOldEvents(t *testing.T) {
	up, down := scalingRules(nil)
	h := history{ups: []scaleEvent{{2, now.Add(-time.Minute)}, {1, now.Add(-10 * time.Second)}}}
	h.recordScale(now, up, down, 3, 1)
	if len(h.ups) != 1 || h.ups[0].change != 1 {
		t.Errorf("ups = %+v, want only the event inside the 15 s period", h.ups)
	}
	if len(h.downs) != 1 || h.downs[0].change != 2 {
		t.Errorf("downs = %+v, want one event of 2", h.downs)
	}
}
