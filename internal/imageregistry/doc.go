// Package imageregistry is the cluster's OCI distribution registry: the
// protocol comes from go-containerregistry's pkg/registry, with blobs and
// manifests kept on disk under DATA_DIR/registry so pushed images survive a
// restart, behind HTTP basic auth with credentials generated on first start.
//
// It also writes DATA_DIR/registries.yaml (k3s format) that points docker.io
// at this registry, so `docker push kubetm/hello` and a pod with
// `image: kubetm/hello` meet without the internet.
//
// It must not import the engine, the kubelet or the API server.
package imageregistry
