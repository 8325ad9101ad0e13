// Package manager runs berth's controllers the way kube-controller-manager
// does: one shared informer factory (typed and metadata-only), each
// controller initialised against it, all of them run only while this
// process holds the Lease kube-system/berth-controller-manager, so two
// servers never both act.
//
// It imports client-go and nothing from berth but the controllers' callers
// hand it: controllers register through Controller values, built in
// cmd/berth/controllers.go.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the Lease in kube-system whose holder runs the controllers.
const LeaseName = "berth-controller-manager"

// Context is what a controller's Init receives. Informers and
// MetadataInformers are started by the manager after every Init returned,
// so Init must only register informers and handlers, never wait on them.
type Context struct {
	Config            *rest.Config
	Client            kubernetes.Interface
	Metadata          metadata.Interface
	Discovery         discovery.DiscoveryInterface
	Informers         informers.SharedInformerFactory
	MetadataInformers metadatainformer.SharedInformerFactory
	Log               *slog.Logger
}

// RunFunc runs one initialised controller until ctx is done. A non-nil
// error stops every controller.
type RunFunc func(ctx context.Context) error

// Controller is one entry of the manager's list: Init builds it (ctx lives
// as long as the leadership), the returned RunFunc runs it.
type Controller struct {
	Name string
	Init func(ctx context.Context, cc *Context) (RunFunc, error)
}

// Config configures Run.
type Config struct {
	Kube *rest.Config
	// Client and Metadata, if set, are used instead of clients built from
	// Kube (tests pass fakes).
	Client      kubernetes.Interface
	Metadata    metadata.Interface
	Controllers []Controller
	// Identity of this process in the Lease; default hostname_pid.
	Identity string
	Log      *slog.Logger
}

// Run campaigns for the Lease and, while leading, runs every controller.
// It returns nil when ctx is done, and an error if leadership is lost (the
// caller should stop the process, as upstream's controller manager exits,
// since controllers' caches and expectations can't be handed over) or a
// controller fails.
func Run(ctx context.Context, cfg Config) error {
	client := cfg.Client
	if client == nil {
		var err error
		if client, err = kubernetes.NewForConfig(cfg.Kube); err != nil {
			return fmt.Errorf("controller manager client: %w", err)
		}
	}
	id := cfg.Identity
	if id == "" {
		host, _ := os.Hostname() // an empty host still leaves the pid unique enough
		id = fmt.Sprintf("%s_%d", host, os.Getpid())
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: LeaseName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var runErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				cfg.Log.Info("became leader", "identity", id)
				runErr = runAll(lctx, cfg, client)
				cancel() // a controller failed or leadership ended: stop campaigning
			},
			OnStoppedLeading: func() { cfg.Log.Info("stopped leading", "identity", id) },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

func runAll(ctx context.Context, cfg Config, client kubernetes.Interface) error {
	md := cfg.Metadata
	if md == nil {
		var err error
		if md, err = metadata.NewForConfig(cfg.Kube); err != nil {
			return fmt.Errorf("metadata client: %w", err)
		}
	}
	cc := &Context{
		Config:            cfg.Kube,
		Client:            client,
		Metadata:          md,
		Discovery:         client.Discovery(),
		Informers:         informers.NewSharedInformerFactory(client, 0),
		MetadataInformers: metadatainformer.NewSharedInformerFactory(md, 0),
		Log:               cfg.Log,
	}
	g, ctx := errgroup.WithContext(ctx)
	var runs []RunFunc
	var names []string
	for _, c := range cfg.Controllers {
		run, err := c.Init(ctx, cc)
		if err != nil {
			return fmt.Errorf("init %s controller: %w", c.Name, err)
		}
		runs = append(runs, run)
		names = append(names, c.Name)
	}
	cc.Informers.Start(ctx.Done())
	cc.MetadataInformers.Start(ctx.Done())
	for i, run := range runs {
		name := names[i]
		g.Go(func() error {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("%s controller: %w", name, err)
			}
			return nil
		})
	}
	err := g.Wait()
	cc.Informers.Shutdown()
	cc.MetadataInformers.Shutdown()
	return err
}
