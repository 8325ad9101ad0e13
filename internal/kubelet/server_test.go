package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	corelisters "k8s.io/client-go/listers/core/v1"
)

// fakeRuntime is a Runtime with one running container and canned output.
type fakeRuntime struct {
	containers []ContainerInfo
	logs       []string
	execCode   int
}

func (f *fakeRuntime) ImageID(context.Context, string) (string, error) { return "sha256:x", nil }
func (f *fakeRuntime) PullImage(context.Context, string) (string, int64, error) {
	return "sha256:x", 1, nil
}
func (f *fakeRuntime) CreateContainer(context.Context, ContainerConfig) (string, error) {
	return "", errors.New("not in this fake")
}
func (f *fakeRuntime) StartContainer(context.Context, string) error               { return nil }
func (f *fakeRuntime) StopContainer(context.Context, string, time.Duration) error { return nil }
func (f *fakeRuntime) RemoveContainer(context.Context, string) error              { return nil }
func (f *fakeRuntime) Attach(context.Context, string, io.Reader, io.Writer, io.Writer) error {
	return nil
}
func (f *fakeRuntime) Stats(context.Context, string) (ContainerStats, error) {
	return ContainerStats{}, nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, labels map[string]string) ([]ContainerInfo, error) {
	var out []ContainerInfo
	for _, c := range f.containers {
		match := true
		for k, v := range labels {
			if c.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeRuntime) Logs(_ context.Context, _ string, o LogOptions, w LogWriter) error {
	lines := f.logs
	if o.Tail >= 0 && o.Tail < len(lines) {
		lines = lines[len(lines)-o.Tail:]
	}
	for i, l := range lines {
		if err := w("stdout", time.Date(2026, 11, 27, 10, 0, i, 0, time.UTC), []byte(l+"\n")); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeRuntime) Exec(_ context.Context, _ string, o ExecOptions) (int, error) {
	in := ""
	if o.Stdin != nil {
		b, _ := io.ReadAll(o.Stdin)
		in = string(b)
	}
	fmt.Fprintf(o.Stdout, "ran %s stdin=%q\n", strings.Join(o.Cmd, " "), in)
	return f.execCode, nil
}

func testServer(t *testing.T, rt *fakeRuntime) *httptest.Server {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	idx.Add(pod)
	k := &Kubelet{rt: rt, pods: corelisters.NewPodLister(idx), log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func running1() []ContainerInfo {
	return []ContainerInfo{{ID: "c1", Labels: map[string]string{LabelPodUID: "u1", LabelContainerName: "app", LabelRestartCount: "0"},
		State: ContainerState{Running: true}}}
}

func TestServeLogs(t *testing.T) {
	rt := &fakeRuntime{containers: running1(), logs: []string{"one", "two", "three"}}
	srv := testServer(t, rt)
	for _, tc := range []struct {
		name, query string
		code        int
		want        string
	}{
		{"all lines", "", 200, "one\ntwo\nthree\n"},
		{"tail", "?tailLines=1", 200, "three\n"},
		{"timestamps", "?tailLines=1&timestamps=true", 200, "2026-11-27T10:00:00Z three\n"},
		{"limitBytes cuts the stream", "?limitBytes=6", 200, "one\ntw"},
		{"no previous attempt", "?previous=true", 400, `previous terminated container \"app\" in pod \"web\" not found`},
		{"bad tailLines", "?tailLines=-3", 400, "tailLines must be a non-negative integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/containerLogs/default/web/app" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
				t.Errorf("GET logs%s = %d %q, want %d with %q", tc.query, resp.StatusCode, body, tc.code, tc.want)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/containerLogs/default/web/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("logs of an unknown container = %d, want 400", resp.StatusCode)
	}
}

// TestServeExec speaks v5.channel.k8s.io the way kubectl does: stdin on
// channel 0 then a close of channel 0, output on 1, the status on 3.
func TestServeExec(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       int
		wantStatus metav1.Status
	}{
		{"exit 0 is Success", 0, metav1.Status{Status: metav1.StatusSuccess}},
		{"exit 3 is NonZeroExitCode with the code as a cause", 3, metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: "3"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testServer(t, &fakeRuntime{containers: running1(), execCode: tc.code})
			d := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}}
			ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/exec/default/web/app?command=cat&command=-&stdin=true&stdout=true", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if ws.Subprotocol() != "v5.channel.k8s.io" {
				t.Errorf("subprotocol = %q", ws.Subprotocol())
			}
			ws.WriteMessage(websocket.BinaryMessage, []byte("\x00hello"))
			ws.WriteMessage(websocket.BinaryMessage, []byte{255, 0})
			var stdout string
			var status metav1.Status
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					break
				}
				switch msg[0] {
				case 1:
					stdout += string(msg[1:])
				case 3:
					if err := json.Unmarshal(msg[1:], &status); err != nil {
						t.Fatalf("status frame %q: %v", msg[1:], err)
					}
				}
			}
			if stdout != "ran cat - stdin=\"hello\"\n" {
				t.Errorf("stdout = %q", stdout)
			}
			if status.Status != tc.wantStatus.Status || status.Reason != tc.wantStatus.Reason {
				t.Errorf("status = %+v, want %+v", status, tc.wantStatus)
			}
			if tc.wantStatus.Details != nil && (status.Details == nil || status.Details.Causes[0] != tc.wantStatus.Details.Causes[0]) {
				t.Errorf("status details = %+v, want %+v", status.Details, tc.wantStatus.Details)
			}
		})
	}
}

// countingRuntime counts the lists that reach the runtime.
type countingRuntime struct {
	fakeRuntime
	lists int
}

func (c *countingRuntime) ListContainers(ctx context.Context, labels map[string]string) ([]ContainerInfo, error) {
	c.lists++
	return c.fakeRuntime.ListContainers(ctx, labels)
}

func (c *countingRuntime) CreateContainer(context.Context, ContainerConfig) (string, error) {
	c.containers = append(c.containers, ContainerInfo{ID: "new", Labels: map[string]string{LabelManaged: "true", LabelPodUID: "u2"}})
	return "new", nil
}

func TestCachedRuntime(t *testing.T) {
	ctx := context.Background()
	base := &countingRuntime{fakeRuntime: fakeRuntime{containers: []ContainerInfo{
		{ID: "a", Labels: map[string]string{LabelManaged: "true", LabelPodUID: "u1"}},
		{ID: "b", Labels: map[string]string{LabelManaged: "true", LabelPodUID: "u2"}},
	}}}
	c := newCachedRuntime(base)
	for range 3 {
		got, err := c.ListContainers(ctx, map[string]string{LabelPodUID: "u1"})
		if err != nil || len(got) != 1 || got[0].ID != "a" {
			t.Fatalf("ListContainers(u1) = %v, %v", got, err)
		}
	}
	if base.lists != 1 {
		t.Errorf("3 pod lists reached the runtime %d times, want 1 (one snapshot)", base.lists)
	}
	if _, err := c.CreateContainer(ctx, ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.ListContainers(ctx, map[string]string{LabelPodUID: "u2"})
	if len(got) != 2 {
		t.Errorf("after a create the pod lists %d containers, want 2 (the snapshot must be dropped)", len(got))
	}
}

// TestServeExecSPDY runs client-go's SPDY executor (what kubectl before
// 1.30 uses, and its fallback) against the handler: protocol v4, stdin
// and stdout streams, the exit code from the status on the error stream.
func TestServeExecSPDY(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		wantExit int
	}{
		{"exit 0", 0, 0},
		{"exit 3 comes back as the exit code", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testServer(t, &fakeRuntime{containers: running1(), execCode: tc.code})
			u, _ := url.Parse(srv.URL + "/exec/default/web/app?command=cat&command=-&stdin=true&stdout=true&stderr=true")
			ex, err := remotecommand.NewSPDYExecutor(&rest.Config{Host: srv.URL}, "POST", u)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello"), Stdout: &stdout, Stderr: &stderr})
			var ee utilexec.ExitError
			switch {
			case tc.wantExit == 0 && err != nil:
				t.Errorf("stream: %v, want success", err)
			case tc.wantExit != 0 && (!errors.As(err, &ee) || ee.ExitStatus() != tc.wantExit):
				t.Errorf("stream: %v, want exit code %d", err, tc.wantExit)
			}
			if stdout.String() != "ran cat - stdin=\"hello\"\n" {
				t.Errorf("stdout = %q", stdout.String())
			}
		})
	}
}
