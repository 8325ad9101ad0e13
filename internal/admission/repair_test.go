package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRepair(t *testing.T) {
	live := service("live", corev1.ServiceTypeNodePort, "10.96.0.30", 30001)
	p, claims, _ := newTestPlugins(t, live)
	ctx := context.Background()
	claims.m[serviceIPPrefix+"10.96.0.40"] = "default/gone/svc-gone" // leaked by a crash
	if err := p.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	// The live Service's IP and port are claimed; the leak survives one run.
	for _, k := range []string{serviceIPPrefix + "10.96.0.30", nodePortPrefix + "30001", serviceIPPrefix + "10.96.0.40"} {
		if _, ok := claims.m[k]; !ok {
			t.Errorf("after the first run, %s is not claimed: %v", k, claims.m)
		}
	}
	if err := p.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims.m[serviceIPPrefix+"10.96.0.40"]; ok {
		t.Errorf("leaked claim still there after the second run: %v", claims.m)
	}
	if len(claims.m) != 2 {
		t.Errorf("claims = %v, want the live Service's two", claims.m)
	}
}
