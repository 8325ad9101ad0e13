package main

import (
	"context"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// join exchanges the join token for this node's credentials.
//
// TODO(node agent): until the server's join endpoint lands this uses the
// admin kubeconfig from the shared data dir, which only works for `berth up`.
func join(ctx context.Context, o *agentOptions) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", filepath.Join(o.DataDir, "kubeconfig"))
}
