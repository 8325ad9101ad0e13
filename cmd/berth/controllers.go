package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/controller/cronjob"
	"github.com/berth-dev/berth/internal/controller/ctrlutil"
	"github.com/berth-dev/berth/internal/controller/daemonset"
	"github.com/berth-dev/berth/internal/controller/deployment"
	"github.com/berth-dev/berth/internal/controller/endpoints"
	"github.com/berth-dev/berth/internal/controller/endpointslice"
	"github.com/berth-dev/berth/internal/controller/garbagecollector"
	"github.com/berth-dev/berth/internal/controller/hpa"
	"github.com/berth-dev/berth/internal/controller/job"
	"github.com/berth-dev/berth/internal/controller/manager"
	"github.com/berth-dev/berth/internal/controller/namespace"
	"github.com/berth-dev/berth/internal/controller/nodelifecycle"
	"github.com/berth-dev/berth/internal/controller/podgc"
	"github.com/berth-dev/berth/internal/controller/replicaset"
	"github.com/berth-dev/berth/internal/controller/resourcequota"
	"github.com/berth-dev/berth/internal/controller/serviceaccount"
	"github.com/berth-dev/berth/internal/controller/statefulset"
	"github.com/berth-dev/berth/internal/controller/volume"
	"github.com/berth-dev/berth/internal/dns"
	"github.com/berth-dev/berth/internal/proxy/servicelb"
)

// runControllers runs the controller manager (with leader election on the
// Lease kube-system/berth-controller-manager) until ctx is done.
func runControllers(ctx context.Context, cp *controlPlane) error {
	return manager.Run(ctx, manager.Config{
		Kube:        cp.admin,
		Controllers: controllers(rootCA(cp), filepath.Join(cp.opts.DataDir, "storage"), cp.opts.ClusterDNS),
		Log:         cp.log.With("component", "controller-manager"),
	})
}

// rootCA is the cluster CA bundle (PEM) published to every namespace as
// kube-root-ca.crt; nil if the admin config has none.
func rootCA(cp *controlPlane) []byte {
	if len(cp.admin.CAData) > 0 {
		return cp.admin.CAData
	}
	if cp.admin.CAFile != "" {
		if b, err := os.ReadFile(cp.admin.CAFile); err == nil {
			return b
		}
	}
	return nil
}

// controllers is the list the manager runs; add a line per controller.
func controllers(rootCA []byte, storageDir, clusterDNS string) []manager.Controller {
	return []manager.Controller{
		{Name: "replicaset", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := replicaset.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "replicaset-controller"), cc.Log)
			return workers(c, err, 5)
		}},
		{Name: "replicationcontroller", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := replicaset.NewForRC(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "replication-controller"), cc.Log)
			return workers(c, err, 5)
		}},
		{Name: "deployment", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := deployment.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "deployment-controller"), cc.Log)
			return workers(c, err, 5)
		}},
		{Name: "daemonset", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := daemonset.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "daemonset-controller"), cc.Log)
			return workers(c, err, 2)
		}},
		{Name: "statefulset", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := statefulset.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "statefulset-controller"), cc.Log)
			return workers(c, err, 2)
		}},
		{Name: "job", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := job.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "job-controller"), cc.Log)
			return workers(c, err, 5)
		}},
		{Name: "ttlafterfinished", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := job.NewTTL(cc.Client, cc.Informers, cc.Log)
			return workers(c, err, 2)
		}},
		{Name: "cronjob", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := cronjob.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "cronjob-controller"), cc.Log)
			return workers(c, err, 5)
		}},
		{Name: "garbagecollector", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			gc := garbagecollector.New(cc.Metadata, cc.Discovery, cc.MetadataInformers, cc.Log)
			return workers(gc, nil, 10)
		}},
		{Name: "namespace", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := namespace.New(cc.Client, cc.Metadata, cc.Discovery, cc.Informers, cc.Log)
			return workers(c, err, 5)
		}},
		{Name: "serviceaccount", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := serviceaccount.New(cc.Client, cc.Informers, rootCA, cc.Log)
			return workers(c, err, 2)
		}},
		{Name: "persistentvolume", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := volume.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "persistentvolume-controller"),
				storageDir, cc.Log.With("component", "persistentvolume"))
			return workers(c, err, 2)
		}},
		{Name: "resourcequota", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := resourcequota.New(cc.Client, cc.Metadata, cc.Informers, resourcequota.DiscoveryResolver(cc.Discovery), cc.Log)
			return workers(c, err, 2)
		}},
		{Name: "nodelifecycle", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := nodelifecycle.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "node-controller"), cc.Log)
			return workers(c, err, 2)
		}},
		{Name: "podgc", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			return workers(podgc.New(cc.Client, cc.Informers, podgc.DefaultTerminatedThreshold, cc.Log), nil, 1)
		}},
		{Name: "endpoints", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			core := cc.Informers.Core().V1()
			c, err := endpoints.New(cc.Client, core.Services(), core.Pods(), core.Endpoints(), cc.Log.With("component", "endpoints"))
			return workers(c, err, 5)
		}},
		{Name: "endpointslice", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			core := cc.Informers.Core().V1()
			c, err := endpointslice.New(cc.Client, core.Services(), core.Pods(), cc.Informers.Discovery().V1().EndpointSlices(), cc.Log.With("component", "endpointslice"))
			return workers(c, err, 5)
		}},
		{Name: "servicelb", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := servicelb.New(cc.Client, cc.Informers, cc.Log.With("component", "servicelb"))
			if err != nil {
				return nil, fmt.Errorf("new servicelb controller: %w", err)
			}
			return c.Run, nil
		}},
		{Name: "kube-dns-service", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			return func(ctx context.Context) error { return dns.EnsureService(ctx, cc.Client, clusterDNS, cc.Log) }, nil
		}},
		{Name: "horizontalpodautoscaling", Init: func(ctx context.Context, cc *manager.Context) (manager.RunFunc, error) {
			c, err := hpa.New(cc.Client, cc.Informers, ctrlutil.NewRecorder(ctx, cc.Client, "horizontal-pod-autoscaler"), cc.Log.With("component", "hpa"))
			return workers(c, err, 5)
		}},
	}
}

// workers adapts a controller with Run(ctx, workers) to a manager.RunFunc.
func workers(c interface {
	Run(context.Context, int) error
}, err error, n int) (manager.RunFunc, error) {
	if err != nil {
		return nil, fmt.Errorf("new controller: %w", err)
	}
	return func(ctx context.Context) error { return c.Run(ctx, n) }, nil
}
