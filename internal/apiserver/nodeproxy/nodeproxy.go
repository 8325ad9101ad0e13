// Package nodeproxy carries pods/log, pods/exec, pods/attach,
// pods/portforward and nodes/proxy from the API server to the node agent
// that runs the pod, the way upstream's API server proxies to the kubelet
// (pkg/registry/core/pod/rest/subresources.go, pkg/registry/core/node/rest/proxy.go):
// it finds the pod's node, picks the node's address and kubelet port from
// its status, and reverse-proxies the request there over HTTPS, including
// websocket and SPDY upgrades, streaming both ways.
//
// It only speaks HTTP and client-go; it must not import the kubelet.
package nodeproxy

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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

// DefaultKubeletPort is used when a node reports no kubelet endpoint.
const DefaultKubeletPort = 10250

// Proxy is the Handler that reaches node agents.
type Proxy struct {
	client    kubernetes.Interface
	transport *http.Transport
}

// New returns a Proxy that reads pods and nodes with client (the API
// server's own loopback clientset) and presents clientCert to the node
// agents, which admit only certificates from the cluster CA in
// system:masters. Node serving certificates are self-signed, so they are
// not verified (upstream's default without --kubelet-certificate-authority).
func New(client kubernetes.Interface, clientCert tls.Certificate) *Proxy {
	return &Proxy{
		client: client,
		transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				Certificates:       []tls.Certificate{clientCert},
				InsecureSkipVerify: true, //nolint:gosec // see doc comment
				// Upgrades (exec, port-forward) need HTTP/1.1.
				NextProtos: []string{"http/1.1"},
			},
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 16,
		},
	}
}

// ServeHTTP implements Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target, err := p.target(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// The caller's credentials are for the API server, not the node.
			pr.Out.Header.Del("Authorization")
		},
		Transport:     p.transport,
		FlushInterval: -1, // logs -f: every write goes out at once
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error dialing backend: %v", err)))
		},
	}
	rp.ServeHTTP(w, r)
}

// target maps the API path to the node agent's URL.
func (p *Proxy) target(r *http.Request) (*url.URL, error) {
	ctx := r.Context()
	ns, name, sub := r.PathValue("namespace"), r.PathValue("name"), r.PathValue("subresource")
	q := r.URL.Query()
	if ns == "" {
		// nodes/NAME/proxy/PATH
		node, err := p.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		rest := "/"
		if i := strings.Index(r.URL.Path, "/proxy/"); i >= 0 {
			rest = r.URL.Path[i+len("/proxy"):]
		}
		return nodeURL(node, rest, q)
	}
	pod, err := p.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name))
	}
	node, err := p.client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var path string
	switch sub {
	case "log", "exec", "attach":
		c, err := containerFor(pod, q.Get("container"))
		if err != nil {
			return nil, err
		}
		q.Del("container")
		kind := map[string]string{"log": "containerLogs", "exec": "exec", "attach": "attach"}[sub]
		path = "/" + kind + "/" + ns + "/" + name + "/" + c
	case "portforward":
		path = "/portForward/" + ns + "/" + name
	default:
		return nil, apierrors.NewNotFound(corev1.Resource("pods/"+sub), name)
	}
	return nodeURL(node, path, q)
}

// containerFor applies upstream's rule: the named container, the only
// one, or the kubectl.kubernetes.io/default-container annotation.
func containerFor(pod *corev1.Pod, name string) (string, error) {
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	if name != "" {
		for _, c := range all {
			if c.Name == name {
				return name, nil
			}
		}
		for _, c := range pod.Spec.EphemeralContainers {
			if c.Name == name {
				return name, nil
			}
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Name, nil
	}
	if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
		return d, nil
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " ")))
}

// nodeURL is https://ADDRESS:PORT/path?query for a node: the InternalIP,
// else ExternalIP, else Hostname, as upstream's preferred address types.
func nodeURL(node *corev1.Node, path string, q url.Values) (*url.URL, error) {
	host := ""
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no address", node.Name))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultKubeletPort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path, RawQuery: q.Encode()}, nil
}

func writeStatus(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	var st metav1.Status
	if errors.As(err, &se) {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).ErrStatus
	}
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	json.NewEncoder(w).Encode(st) // the caller may be gone; nothing to do then
}
