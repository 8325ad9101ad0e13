package apiserver

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth-dev/berth/internal/auth"
)

func TestNodeMayRequestToken(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "app"}}
	for _, tc := range []struct {
		name, node, sa string
		pod            *corev1.Pod
		want           bool
	}{
		{"its pod's account", "n1", "app", pod, true},
		{"no bound pod", "n1", "app", nil, false},
		{"another node's pod", "n2", "app", pod, false},
		{"another account than the pod's", "n1", "admin", pod, false},
	} {
		if got := nodeMayRequestToken(tc.node, tc.sa, tc.pod); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVerifiedTokens(t *testing.T) {
	now := time.Unix(1000, 0)
	var v verifiedTokens
	v.put("long", &auth.TokenClaims{Expiry: now.Add(time.Hour).Unix()}, now)
	v.put("short", &auth.TokenClaims{Expiry: now.Add(3 * time.Second).Unix()}, now)
	for _, tc := range []struct {
		tok   string
		after time.Duration
		want  bool
	}{
		{"long", 9 * time.Second, true},
		{"long", verifiedTokenTTL, false}, // checked again after the TTL
		{"short", 2 * time.Second, true},
		{"short", 3 * time.Second, false}, // never trusted past its expiry
		{"unknown", 0, false},
	} {
		if got := v.get(tc.tok, now.Add(tc.after)) != nil; got != tc.want {
			t.Errorf("%s after %v: cached=%v, want %v", tc.tok, tc.after, got, tc.want)
		}
	}
}
