package main

import (
	"log/slog"

	"k8s.io/client-go/rest"

	"github.com/berth-dev/berth/internal/engine"
)

// controlPlane is what server-side components get once the API server
// serves: runServer starts runControllers, runScheduler and startRegistry
// with it. Each lives in a file of its own (controllers.go, scheduler.go,
// registry.go).
type controlPlane struct {
	opts  *serverOptions
	admin *rest.Config // admin credentials over HTTPS to this server
	log   *slog.Logger
}

// registryInfo is where the cluster image registry listens and how to log in.
type registryInfo struct {
	Addr     string // host:port
	Username string
	Password string
}

// nodeEnv is what node-side components get: runAgent joins the cluster,
// starts the engine and then runs runDockerAPI, runKubelet, runProxy and
// runRoutes (dockerapi.go, kubelet.go, proxy.go, routes.go) with it.
type nodeEnv struct {
	opts *agentOptions
	net  clusterNet
	kube *rest.Config // this node's own credentials, obtained with the join token
	eng  *engine.Engine
	log  *slog.Logger
}
