package nodeproxy

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// kubeletStub answers with the path and query it got, and echoes one
// websocket message, standing in for a node agent.
func kubeletStub(t *testing.T) *httptest.Server {
	up := websocket.Upgrader{Subprotocols: []string{"v5.channel.k8s.io"}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer ws.Close()
			mt, msg, err := ws.ReadMessage()
			if err == nil {
				ws.WriteMessage(mt, append([]byte(r.URL.Path+" "), msg...))
			}
			return
		}
		io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func setup(t *testing.T, containers ...string) (*httptest.Server, *http.ServeMux) {
	backend := kubeletStub(t)
	host, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
		},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c})
	}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pending"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	px := New(fake.NewClientset(node, pod, pending), tls.Certificate{})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/namespaces/{namespace}/pods/{name}/{subresource}", px)
	mux.Handle("/api/v1/nodes/{name}/proxy/", px)
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return front, mux
}

func TestProxyPaths(t *testing.T) {
	for _, tc := range []struct {
		name       string
		containers []string
		path       string
		wantCode   int
		want       string
	}{
		{"logs of the only container", []string{"app"}, "/api/v1/namespaces/default/pods/web/log?follow=true&tailLines=5", 200, "/containerLogs/default/web/app?follow=true&tailLines=5"},
		{"logs of a named container", []string{"a", "b"}, "/api/v1/namespaces/default/pods/web/log?container=b", 200, "/containerLogs/default/web/b?"},
		{"several containers need a name", []string{"a", "b"}, "/api/v1/namespaces/default/pods/web/log", 400, "a container name must be specified for pod web, choose one of: [a b]"},
		{"unknown container", []string{"a"}, "/api/v1/namespaces/default/pods/web/log?container=zz", 400, "container zz is not valid for pod web"},
		{"exec keeps the command", []string{"app"}, "/api/v1/namespaces/default/pods/web/exec?command=ls&command=-l&stdout=true", 200, "/exec/default/web/app?command=ls&command=-l&stdout=true"},
		{"port-forward", []string{"app"}, "/api/v1/namespaces/default/pods/web/portforward", 200, "/portForward/default/web?"},
		{"missing pod", []string{"app"}, "/api/v1/namespaces/default/pods/nope/log", 404, `pods "nope" not found`},
		{"unscheduled pod", []string{"app"}, "/api/v1/namespaces/default/pods/pending/log", 400, "pod pending does not have a host assigned"},
		{"node proxy", []string{"app"}, "/api/v1/nodes/n1/proxy/stats/summary", 200, "/stats/summary?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			front, _ := setup(t, tc.containers...)
			resp, err := http.Get(front.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, resp.StatusCode, body, tc.wantCode)
			}
			if tc.wantCode != 200 {
				var st metav1.Status
				if err := json.Unmarshal(body, &st); err != nil || !strings.Contains(st.Message, tc.want) {
					t.Errorf("GET %s = %s, want a Status with %q", tc.path, body, tc.want)
				}
				return
			}
			if string(body) != tc.want {
				t.Errorf("GET %s reached %q, want %q", tc.path, body, tc.want)
			}
		})
	}
}

func TestProxyUpgrade(t *testing.T) {
	front, _ := setup(t, "app")
	d := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(front.URL, "http")+"/api/v1/namespaces/default/pods/web/exec?command=sh", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer ws.Close()
	if got := ws.Subprotocol(); got != "v5.channel.k8s.io" {
		t.Errorf("subprotocol = %q, want v5.channel.k8s.io", got)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("\x00hi")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := "/exec/default/web/app \x00hi"; string(msg) != want {
		t.Errorf("echo = %q, want %q", msg, want)
	}
}
