package kinds

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestRegistry checks every kind's identity against client-go's scheme, so
// a typo in a GVK or a mismatched constructor cannot reach discovery.
func TestRegistry(t *testing.T) {
	seen := map[schema.GroupVersionResource]bool{}
	for _, k := range All() {
		gvr := k.GroupVersionResource()
		if seen[gvr] {
			t.Errorf("%v registered twice", gvr)
		}
		seen[gvr] = true
		want, err := scheme.Scheme.New(k.GVK)
		if err != nil {
			t.Errorf("%v: not in client-go's scheme: %v", k.GVK, err)
			continue
		}
		if got := reflect.TypeOf(k.New()); got != reflect.TypeOf(want) {
			t.Errorf("%v: New() = %v, want %v", k.GVK, got, reflect.TypeOf(want))
		}
		list, err := scheme.Scheme.New(k.GVK.GroupVersion().WithKind(k.GVK.Kind + "List"))
		if err != nil || reflect.TypeOf(k.NewList()) != reflect.TypeOf(list) {
			t.Errorf("%v: NewList() = %T, want %T", k.GVK, k.NewList(), list)
		}
		if k.Storage != k.GVK && (k.ToStorage == nil || k.FromStorage == nil) {
			t.Errorf("%v: stored as %v without conversions", k.GVK, k.Storage)
		}
		if k.Columns != nil && k.Columns[0].Name != "Name" && k.Resource != "events" {
			t.Errorf("%v: first column %q, want Name", k.GVK, k.Columns[0].Name)
		}
	}
	for _, want := range []struct {
		resource string
		short    string
		all      bool
	}{
		{"pods", "po", true}, {"services", "svc", true}, {"deployments", "deploy", true}, {"replicasets", "rs", true},
		{"statefulsets", "sts", true}, {"daemonsets", "ds", true}, {"cronjobs", "cj", true}, {"jobs", "", true},
		{"replicationcontrollers", "rc", true}, {"horizontalpodautoscalers", "hpa", true},
		{"namespaces", "ns", false}, {"nodes", "no", false}, {"configmaps", "cm", false}, {"resourcequotas", "quota", false},
		{"limitranges", "limits", false}, {"persistentvolumeclaims", "pvc", false}, {"networkpolicies", "netpol", false},
	} {
		var k *Kind
		for _, c := range All() {
			if c.Resource == want.resource {
				k = c
				break
			}
		}
		if k == nil {
			t.Errorf("%s not served", want.resource)
			continue
		}
		if want.short != "" && (len(k.ShortNames) == 0 || k.ShortNames[0] != want.short) {
			t.Errorf("%s short names = %v, want %q", want.resource, k.ShortNames, want.short)
		}
		if inAll := len(k.Categories) == 1 && k.Categories[0] == "all"; inAll != want.all {
			t.Errorf("%s in category all = %v, want %v", want.resource, inAll, want.all)
		}
	}
}

// TestPreferredVersions: the first version of a group in All() is the one
// kubectl prefers; autoscaling must prefer v2.
func TestPreferredVersions(t *testing.T) {
	for _, k := range All() {
		if k.GVK.Group == "autoscaling" {
			if k.GVK.Version != "v2" {
				t.Errorf("first autoscaling version = %s, want v2", k.GVK.Version)
			}
			return
		}
	}
	t.Error("autoscaling not served")
}

// TestEveryKindBehaves runs every kind's functions on an empty object: no
// panics, one cell per column, and defaulting that validation then accepts
// or refuses with field errors (never a crash).
func TestEveryKindBehaves(t *testing.T) {
	for _, k := range All() {
		t.Run(k.GVK.String(), func(t *testing.T) {
			obj := k.New()
			if k.Default != nil {
				k.Default(obj)
			}
			if k.PrepareForCreate != nil {
				k.PrepareForCreate(obj)
			}
			if k.Row != nil {
				if got := len(k.Row(obj)); got != len(k.Columns) {
					t.Errorf("Row() has %d cells for %d columns", got, len(k.Columns))
				}
			}
			if k.Validate != nil {
				_ = k.Validate(obj) // an empty object may be invalid; it must not crash
			}
			if k.ValidateUpdate != nil {
				_ = k.ValidateUpdate(obj, k.New())
			}
			if k.Fields != nil {
				_ = k.Fields(obj)
			}
			if k.GetScale != nil {
				if s := k.GetScale(obj); s == nil {
					t.Error("GetScale() = nil")
				}
				k.SetScale(obj, 3)
				if s := k.GetScale(obj); s.Spec.Replicas != 3 {
					t.Errorf("after SetScale(3), GetScale().Spec.Replicas = %d", s.Spec.Replicas)
				}
			}
			if k.ToStorage != nil {
				stored, err := k.ToStorage(obj)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := k.FromStorage(stored); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
