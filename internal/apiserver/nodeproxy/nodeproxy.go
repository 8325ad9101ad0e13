// Package nodeproxy carries pods/log, pods/exec, pods/attach,
// pods/portforward and nodes/proxy from the API server to the node agent
// that runs the pod, the way upstream's API server proxies to the kubelet.
package nodeproxy

import (
	"net/http"
)

// Handler serves a pod or node streaming subresource. The API server routes
// /api/v1/namespaces/NS/pods/NAME/{log,exec,attach,portforward} and
// /api/v1/nodes/NAME/proxy/... here after authenticating the caller, with the
// path values "namespace", "name", "subresource" set (r.PathValue).
type Handler interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request)
}

// NotImplemented answers 501 until the node agent's server lands.
var NotImplemented Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotImplemented)
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pod streaming is not implemented yet","reason":"NotImplemented","code":501}`))
})
