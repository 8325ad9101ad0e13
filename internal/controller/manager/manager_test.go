package manager

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"
)

// TestRunInitsAndRunsWhileLeading checks the wiring: the manager takes the
// Lease, calls every Init, starts the shared informers, runs the
// controllers, and a failing controller ends Run with its error.
func TestRunInitsAndRunsWhileLeading(t *testing.T) {
	cs := fake.NewSimpleClientset()
	md := metafake.NewSimpleMetadataClient(runtime.NewScheme())
	errStop := errors.New("stop")
	var synced bool
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, Config{
		Client: cs, Metadata: md, Identity: "test-1", Log: slog.New(slog.DiscardHandler),
		Controllers: []Controller{{Name: "probe", Init: func(ctx context.Context, cc *Context) (RunFunc, error) {
			inf := cc.Informers.Core().V1().Pods().Informer()
			return func(ctx context.Context) error {
				synced = cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
				return errStop
			}, nil
		}}},
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Run() = %v, want the controller's error", err)
	}
	if !synced {
		t.Error("the shared informers were not started before the controllers ran")
	}
	lease, err := cs.CoordinationV1().Leases("kube-system").Get(context.Background(), LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease %s: %v", LeaseName, err)
	}
	if lease.Spec.HolderIdentity == nil {
		t.Errorf("lease holder = nil, want test-1 (or released to empty)")
	}
}
