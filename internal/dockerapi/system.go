package dockerapi

import (
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/version"
)

// dockerVersion is the daemon version berth reports: the Docker release
// whose API level (version.DockerAPI) it serves.
const dockerVersion = "28.2.2-berth"

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", "0")
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	comp := map[string]any{"Name": "Engine", "Version": dockerVersion, "Details": map[string]string{
		"ApiVersion": version.DockerAPI, "MinAPIVersion": version.MinDockerAPI, "Os": "linux", "Arch": runtime.GOARCH,
		"KernelVersion": kernelVersion(), "GoVersion": runtime.Version(), "GitCommit": version.Berth,
	}}
	writeJSON(w, http.StatusOK, map[string]any{
		"Platform":      map[string]string{"Name": "berth " + version.Berth},
		"Components":    []any{comp},
		"Version":       dockerVersion,
		"ApiVersion":    version.DockerAPI,
		"MinAPIVersion": version.MinDockerAPI,
		"GitCommit":     version.Berth,
		"GoVersion":     runtime.Version(),
		"Os":            "linux",
		"Arch":          runtime.GOARCH,
		"KernelVersion": kernelVersion(),
		"BuildTime":     time.Time{}.Format(time.RFC3339Nano),
	})
	return nil
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cs, err := s.eng.List(ctx, engine.ListOptions{All: true})
	if err != nil {
		return err
	}
	imgs, err := s.eng.Images(ctx)
	if err != nil {
		return err
	}
	running, stopped := 0, 0
	for _, c := range cs {
		if c.State.Running {
			running++
		} else {
			stopped++
		}
	}
	host, _ := os.Hostname() // an empty name is harmless in `docker info`
	writeJSON(w, http.StatusOK, map[string]any{
		"ID":                 "berth",
		"Containers":         len(cs),
		"ContainersRunning":  running,
		"ContainersPaused":   0,
		"ContainersStopped":  stopped,
		"Images":             len(imgs),
		"Driver":             "overlay",
		"DriverStatus":       [][2]string{},
		"Plugins":            map[string][]string{"Volume": {"local"}, "Network": {"bridge", "host", "none"}, "Log": {"json-file"}},
		"MemoryLimit":        true,
		"SwapLimit":          true,
		"CpuCfsPeriod":       true,
		"CpuCfsQuota":        true,
		"CPUShares":          true,
		"PidsLimit":          true,
		"IPv4Forwarding":     true,
		"Debug":              false,
		"NFd":                0,
		"NGoroutines":        runtime.NumGoroutine(),
		"SystemTime":         time.Now().Format(time.RFC3339Nano),
		"LoggingDriver":      "json-file",
		"CgroupDriver":       "cgroupfs",
		"CgroupVersion":      cgroupVersion(),
		"KernelVersion":      kernelVersion(),
		"OperatingSystem":    "berth " + version.Berth,
		"OSType":             "linux",
		"Architecture":       runtime.GOARCH,
		"NCPU":               runtime.NumCPU(),
		"MemTotal":           memTotal(),
		"IndexServerAddress": "https://index.docker.io/v1/",
		"RegistryConfig":     map[string]any{"IndexConfigs": map[string]any{}, "InsecureRegistryCIDRs": []string{"127.0.0.0/8"}},
		"DockerRootDir":      s.cfg.DataDir,
		"Name":               host,
		"Labels":             []string{},
		"ServerVersion":      dockerVersion,
		"Runtimes":           map[string]any{"runc": map[string]string{"path": "runc"}},
		"DefaultRuntime":     "runc",
		"Swarm":              map[string]any{"LocalNodeState": "inactive", "ControlAvailable": false},
		"LiveRestoreEnabled": true,
		"Isolation":          "",
		"InitBinary":         "",
		"SecurityOptions":    []string{},
		"Warnings":           []string{},
	})
	return nil
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

// auth is POST /auth (docker login). berth checks the credentials against
// the registry that serves the address: "docker login" without a server
// means Docker Hub, which berth mirrors to the cluster registry
// (registries.yaml), so those credentials are checked there.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) error {
	var ac authConfig
	if err := json.NewDecoder(r.Body).Decode(&ac); err != nil {
		return badRequest("invalid auth configuration: %v", err)
	}
	if ac.Username == "" && ac.Auth == "" && ac.IdentityToken == "" {
		return badRequest("username is empty")
	}
	if err := s.login(r.Context(), normalizeRegistry(ac.ServerAddress), toCredentials(ac)); err != nil {
		return errorf(http.StatusUnauthorized, "%v", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"Status": "Login Succeeded", "IdentityToken": ""})
	return nil
}

// normalizeRegistry maps the server addresses docker uses for Docker Hub
// ("https://index.docker.io/v1/", "index.docker.io", "") to "docker.io" and
// strips scheme and path from others.
func normalizeRegistry(addr string) string {
	a := strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	a, _, _ = strings.Cut(a, "/")
	switch a {
	case "", "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return a
}

func toCredentials(ac authConfig) *engine.Credentials {
	if ac == (authConfig{}) {
		return nil
	}
	return &engine.Credentials{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
}

func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	imgs, err := s.eng.Images(ctx)
	if err != nil {
		return err
	}
	cs, err := s.eng.List(ctx, engine.ListOptions{All: true})
	if err != nil {
		return err
	}
	var layers int64
	summaries := make([]imageSummary, 0, len(imgs))
	for _, img := range imgs {
		layers += img.Size
		sum := toImageSummary(img)
		sum.Containers = 0
		for _, c := range cs {
			if c.ImageID == img.ID {
				sum.Containers++
			}
		}
		summaries = append(summaries, sum)
	}
	containers := make([]containerSummary, 0, len(cs))
	for _, c := range cs {
		containers = append(containers, s.toSummary(&c))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"LayersSize": layers, "Images": summaries, "Containers": containers,
		"Volumes": []any{}, "BuildCache": []any{},
	})
	return nil
}

func notImplemented(what string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotImplemented, "%s is not implemented by berth", what)
	}
}
