package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/berth-dev/berth/internal/scheduler"
)

// runScheduler runs the scheduler and the pod CIDR allocator until ctx is
// done, while this server holds the kube-system/kube-scheduler Lease (so
// with several servers only one binds pods).
func runScheduler(ctx context.Context, cp *controlPlane) error {
	log := cp.log.With("component", "scheduler")
	cluster, err := netip.ParsePrefix(cp.opts.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("--cluster-cidr: %w", err)
	}
	client, err := kubernetes.NewForConfig(cp.admin)
	if err != nil {
		return fmt.Errorf("scheduler client: %w", err)
	}
	host, _ := os.Hostname() // only part of a unique identity; "" is fine
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, "kube-system", "kube-scheduler",
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: host + "_" + rand.String(8)})
	if err != nil {
		return fmt.Errorf("scheduler lock: %w", err)
	}
	lead := func(ctx context.Context) error {
		factory := informers.NewSharedInformerFactory(client, 0)
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
		defer broadcaster.Shutdown()
		recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: scheduler.Name})
		s := scheduler.New(client, factory, recorder, log)
		alloc, err := scheduler.NewPodCIDRAllocator(client, factory, cluster, log.With("component", "podcidr"))
		if err != nil {
			return err
		}
		factory.Start(ctx.Done())
		defer factory.Shutdown()
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return s.Run(ctx, 2) })
		g.Go(func() error { return alloc.Run(ctx) })
		return g.Wait()
	}
	// RunOrDie returns when ctx ends or leadership is lost; losing it while
	// ctx lives means another server leads now, so stand by again.
	for ctx.Err() == nil {
		var runErr error
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Name:            "kube-scheduler",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) { runErr = lead(ctx) },
				OnStoppedLeading: func() { log.Info("scheduler leadership lost") },
			},
		})
		if runErr != nil && ctx.Err() == nil {
			return runErr
		}
	}
	return nil
}
