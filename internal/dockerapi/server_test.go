package dockerapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/network"
)

func newTestServer(t *testing.T, f *fakeEngine) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(Config{Engine: f, DataDir: t.TempDir()}))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRouting(t *testing.T) {
	f := newFake()
	f.images["busybox"] = &engine.Image{ID: "sha256:" + strings.Repeat("a", 64), RepoTags: []string{"busybox:latest"},
		Config: v1.ConfigFile{Config: v1.Config{Cmd: []string{"sh"}}}}
	srv := newTestServer(t, f)
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"ping", "GET", "/_ping", "", 200, "OK"},
		{"ping with version", "HEAD", "/v1.41/_ping", "", 200, ""},
		{"version too old", "GET", "/v1.23/version", "", 400, "client version 1.23 is too old"},
		{"version too new", "GET", "/v1.99/version", "", 400, "client version 1.99 is too new"},
		{"unknown endpoint", "GET", "/v1.50/nosuch", "", 404, `{"message":"page not found"}`},
		{"not implemented", "POST", "/v1.50/containers/web/pause", "", 501, "not implemented by berth"},
		{"image inspect", "GET", "/v1.50/images/busybox/json", "", 200, `"Cmd":["sh"]`},
		{"missing image", "GET", "/v1.50/images/nope/json", "", 404, "No such image: nope:latest"},
		{"create from missing image", "POST", "/v1.50/containers/create", `{"Image":"nope"}`, 404, "No such image: nope:latest"},
		{"create", "POST", "/v1.50/containers/create?name=web", `{"Image":"busybox","Cmd":["true"]}`, 201, `"Id":"`},
		{"name in use", "POST", "/v1.50/containers/create?name=web", `{"Image":"busybox"}`, 409, `The container name \"/web\" is already in use`},
		{"bad json", "POST", "/v1.50/containers/create", `{`, 400, "invalid JSON"},
		{"inspect missing container", "GET", "/v1.50/containers/zzz/json", "", 404, "No such container: zzz"},
		{"kill a stopped container", "POST", "/v1.50/containers/web/kill", "", 409, "is not running"},
		{"bad signal", "POST", "/v1.50/containers/web/kill?signal=SIGNOPE", "", 400, "Invalid signal: SIGNOPE"},
		{"ps -a", "GET", "/v1.50/containers/json?all=1", "", 200, `"Names":["/web"]`},
		{"rm", "DELETE", "/v1.50/containers/web", "", 204, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path, tc.body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("%s %s = %d %q, want %d with %q", tc.method, tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			if got := resp.Header.Get("Api-Version"); got == "" {
				t.Errorf("no Api-Version header")
			}
		})
	}
	// Without a network every container gets --network none.
	if len(f.created) != 1 || f.created[0].NetNS != engine.NetworkNone {
		t.Errorf("created specs = %+v, want one with NetNS none", f.created)
	}
}

func TestMuxWriterFraming(t *testing.T) {
	var buf bytes.Buffer
	stdout, stderr := outputs(&buf, false)
	stdout.Write([]byte("out"))
	stderr.Write([]byte("errors"))
	want := append([]byte{1, 0, 0, 0, 0, 0, 0, 3}, "out"...)
	want = append(append(want, 2, 0, 0, 0, 0, 0, 0, 6), "errors"...)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("framed = %v, want %v", buf.Bytes(), want)
	}
	buf.Reset()
	stdout, _ = outputs(&buf, true)
	stdout.Write([]byte("raw"))
	if buf.String() != "raw" {
		t.Errorf("tty output = %q, want raw bytes", buf.String())
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"", syscall.SIGKILL, true},
		{"SIGTERM", syscall.SIGTERM, true},
		{"hup", syscall.SIGHUP, true},
		{"9", syscall.SIGKILL, true},
		{"SIGBOGUS", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSignal(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestPortBindings(t *testing.T) {
	tests := []struct {
		name    string
		hc      hostConfig
		exposed map[string]struct{}
		want    []network.PortMapping
		wantErr string
	}{
		{name: "-p 8100:8000", hc: hostConfig{PortBindings: map[string][]portBinding{"8000/tcp": {{HostPort: "8100"}}}},
			want: []network.PortMapping{{HostPort: 8100, ContainerPort: 8000, Protocol: "tcp"}}},
		{name: "-p 127.0.0.1:53:53/udp", hc: hostConfig{PortBindings: map[string][]portBinding{"53/udp": {{HostIP: "127.0.0.1", HostPort: "53"}}}},
			want: []network.PortMapping{{HostPort: 53, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}},
		{name: "-P publishes exposed ports on a free port", hc: hostConfig{PublishAllPorts: true}, exposed: map[string]struct{}{"80/tcp": {}},
			want: []network.PortMapping{{HostPort: 0, ContainerPort: 80, Protocol: "tcp"}}},
		{name: "bad host port", hc: hostConfig{PortBindings: map[string][]portBinding{"80/tcp": {{HostPort: "99999"}}}}, wantErr: "invalid hostPort"},
		{name: "bad protocol", hc: hostConfig{PortBindings: map[string][]portBinding{"80/sctp": {{HostPort: "80"}}}}, wantErr: "invalid port protocol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := portBindings(tc.hc, tc.exposed)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("portBindings error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("portBindings = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "berth" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}))
	defer reg.Close()
	dir := t.TempDir()
	yaml := "mirrors:\n  docker.io:\n    endpoint: [\"" + reg.URL + "\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "registries.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Engine: newFake(), DataDir: dir}))
	defer srv.Close()
	tests := []struct {
		name, user, pass, server string
		wantStatus               int
		wantBody                 string
	}{
		{"docker hub lands on the mirror", "berth", "pw", "https://index.docker.io/v1/", 200, "Login Succeeded"},
		{"wrong password", "berth", "nope", "", 401, "401 Unauthorized"},
		{"registry by address", "berth", "pw", strings.TrimPrefix(reg.URL, "http://"), 200, "Login Succeeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(authConfig{Username: tc.user, Password: tc.pass, ServerAddress: tc.server})
			resp, out := do(t, "POST", srv.URL+"/v1.50/auth", string(body))
			if resp.StatusCode != tc.wantStatus || !strings.Contains(out, tc.wantBody) {
				t.Errorf("POST /auth = %d %q, want %d with %q", resp.StatusCode, out, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestNormalizeRegistry(t *testing.T) {
	for in, want := range map[string]string{
		"": "docker.io", "https://index.docker.io/v1/": "docker.io", "docker.io": "docker.io",
		"127.0.0.1:5000": "127.0.0.1:5000", "http://reg.local:5000/v2/": "reg.local:5000",
	} {
		if got := normalizeRegistry(in); got != want {
			t.Errorf("normalizeRegistry(%q) = %q, want %q", in, got, want)
		}
	}
}
