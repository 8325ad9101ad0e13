package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine"
)

func fromImageConfig(c v1.Config) containerConfig {
	return containerConfig{
		Hostname: c.Hostname, Domainname: c.Domainname, User: c.User, ExposedPorts: c.ExposedPorts,
		Env: c.Env, Cmd: c.Cmd, Volumes: c.Volumes, WorkingDir: c.WorkingDir, Entrypoint: c.Entrypoint,
		Labels: c.Labels, StopSignal: c.StopSignal, Tty: c.Tty, OpenStdin: c.OpenStdin, StdinOnce: c.StdinOnce,
	}
}

// containerCreate is POST /containers/create?name=.
func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return badRequest("invalid JSON in create request: %v", err)
	}
	name := r.URL.Query().Get("name")
	if req.Image == "" {
		return badRequest("config cannot be empty in order to create a container")
	}
	img, err := s.eng.Image(r.Context(), req.Image)
	if err != nil {
		return noSuchImage(req.Image, err)
	}
	spec, err := s.specFrom(req, name)
	if err != nil {
		return err
	}
	exposed := map[string]struct{}{}
	for p := range img.Config.Config.ExposedPorts {
		exposed[p] = struct{}{}
	}
	for p := range req.ExposedPorts {
		exposed[p] = struct{}{}
	}
	ctx := r.Context()
	var sbID string
	switch mode := req.HostConfig.NetworkMode; {
	case mode == "none":
		spec.NetNS = engine.NetworkNone
	case mode == "host":
		spec.NetNS = engine.NamespaceHost
	case mode == "" || mode == "default" || mode == "bridge":
		if s.sandboxes == nil {
			spec.NetNS = engine.NetworkNone
			break
		}
		ports, err := portBindings(req.HostConfig, exposed)
		if err != nil {
			return err
		}
		sb, att, err := s.sandboxes.take(ctx, ports)
		if err != nil {
			return err
		}
		sbID = sb.ID
		spec.NetNS = sb.Netns
		spec.Annotations[annSandbox] = sb.ID
		spec.Annotations[annIP] = att.IP.String()
		spec.Annotations[annGateway] = att.Gateway.String()
		if err := writePortAnnotation(spec.Annotations, sb.Ports); err != nil {
			return err
		}
	default:
		return errorf(http.StatusNotImplemented, "network mode %q is not supported by berth (bridge, host and none are)", mode)
	}
	c, err := s.eng.Create(ctx, spec)
	if err != nil {
		if sbID != "" {
			if rerr := s.sandboxes.release(context.WithoutCancel(ctx), sbID); rerr != nil {
				s.log.Error("release network of a failed create", "sandbox", sbID, "err", rerr)
			}
		}
		if errors.Is(err, engine.ErrNameInUse) {
			return conflict("Conflict. The container name \"/%s\" is already in use. You have to remove (or rename) that container to be able to reuse that name.", name)
		}
		return noSuchImage(req.Image, err)
	}
	if sbID != "" {
		s.watchRemoval(c.ID, sbID)
	}
	s.containerEvent("create", c, nil)
	writeJSON(w, http.StatusCreated, map[string]any{"Id": c.ID, "Warnings": []string{}})
	return nil
}

const annPorts = "berth.docker/ports"

func writePortAnnotation(ann map[string]string, ports any) error {
	b, err := json.Marshal(ports)
	if err != nil {
		return err
	}
	ann[annPorts] = string(b)
	return nil
}

// specFrom translates the create request into an engine spec.
func (s *Server) specFrom(req createRequest, name string) (engine.ContainerSpec, error) {
	hc := req.HostConfig
	raw, err := json.Marshal(req)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	spec := engine.ContainerSpec{
		Name: name, Image: req.Image, Entrypoint: req.Entrypoint, Cmd: req.Cmd, Env: req.Env,
		WorkingDir: req.WorkingDir, User: req.User, Labels: req.Labels, Hostname: req.Hostname,
		Domainname: req.Domainname, Tty: req.Tty, OpenStdin: req.OpenStdin, StdinOnce: req.StdinOnce,
		Annotations: map[string]string{annCreate: string(raw)},
		Resources: engine.Resources{
			Memory: hc.Memory, MemorySwap: hc.MemorySwap, NanoCPUs: hc.NanoCpus, CPUQuota: hc.CPUQuota,
			CPUPeriod: uint64(max(hc.CPUPeriod, 0)), CPUShares: uint64(max(hc.CPUShares, 0)), CpusetCpus: hc.CpusetCpus,
		},
		RestartPolicy:  engine.RestartPolicy{Name: hc.RestartPolicy.Name, MaximumRetryCount: hc.RestartPolicy.MaximumRetryCount},
		AutoRemove:     hc.AutoRemove,
		CapAdd:         hc.CapAdd,
		CapDrop:        hc.CapDrop,
		Privileged:     hc.Privileged,
		ReadonlyRootfs: hc.ReadonlyRootfs,
		Sysctls:        hc.Sysctls,
		ShmSize:        hc.ShmSize,
		OOMScoreAdj:    hc.OomScoreAdj,
		StopSignal:     req.StopSignal,
		StopTimeout:    req.StopTimeout,
	}
	if hc.PidsLimit != nil {
		spec.Resources.PidsLimit = *hc.PidsLimit
	}
	for p := range req.ExposedPorts {
		spec.ExposedPorts = append(spec.ExposedPorts, p)
	}
	sort.Strings(spec.ExposedPorts)
	for _, b := range hc.Binds {
		m, err := s.parseBind(b)
		if err != nil {
			return spec, err
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	for _, mp := range hc.Mounts {
		switch mp.Type {
		case "bind":
			spec.Mounts = append(spec.Mounts, engine.Mount{Type: "bind", Source: mp.Source, Destination: mp.Target, ReadOnly: mp.ReadOnly})
		case "tmpfs":
			spec.Mounts = append(spec.Mounts, engine.Mount{Type: "tmpfs", Destination: mp.Target, ReadOnly: mp.ReadOnly})
		case "volume":
			src, err := s.volumeDir(mp.Source)
			if err != nil {
				return spec, err
			}
			spec.Mounts = append(spec.Mounts, engine.Mount{Type: "bind", Source: src, Destination: mp.Target, ReadOnly: mp.ReadOnly})
		default:
			return spec, badRequest("mount type %q is not supported", mp.Type)
		}
	}
	for dst, opts := range hc.Tmpfs {
		var o []string
		if opts != "" {
			o = strings.Split(opts, ",")
		}
		spec.Mounts = append(spec.Mounts, engine.Mount{Type: "tmpfs", Destination: dst, Options: o})
	}
	return spec, nil
}

// parseBind reads -v SRC:DST[:OPTS]; a SRC that isn't a path is a named
// volume kept under DATA_DIR/docker/volumes.
func (s *Server) parseBind(b string) (engine.Mount, error) {
	parts := strings.Split(b, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return engine.Mount{}, badRequest("invalid volume specification: '%s'", b)
	}
	m := engine.Mount{Type: "bind", Source: parts[0], Destination: parts[1]}
	if !path.IsAbs(m.Destination) {
		return m, badRequest("invalid volume specification: '%s': invalid mount config: the destination must be an absolute path", b)
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				m.ReadOnly = true
			case "rw", "z", "Z", "":
			default:
				m.Options = append(m.Options, o)
			}
		}
	}
	if !filepath.IsAbs(m.Source) {
		src, err := s.volumeDir(m.Source)
		if err != nil {
			return m, err
		}
		m.Source = src
		return m, nil
	}
	if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
		// docker creates a missing bind source as a directory.
		if err := os.MkdirAll(m.Source, 0o755); err != nil {
			return m, fmt.Errorf("create bind source %s: %w", m.Source, err)
		}
	}
	return m, nil
}

func (s *Server) volumeDir(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return "", badRequest("invalid volume name %q", name)
	}
	dir := filepath.Join(s.cfg.DataDir, "docker", "volumes", name, "_data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// watchRemoval releases a container's network once the engine removes it
// (docker rm, or --rm after exit).
func (s *Server) watchRemoval(id, sandboxID string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.eng.Wait(s.baseCtx, id, engine.WaitRemoved); err != nil && !errors.Is(err, engine.ErrContainerNotFound) {
			return // shutting down: gc releases it on the next start
		}
		if err := s.sandboxes.release(context.WithoutCancel(s.baseCtx), sandboxID); err != nil {
			s.log.Error("release container network", "container", id, "sandbox", sandboxID, "err", err)
		}
	}()
}

// createRequestOf returns the create request a container was made with.
func createRequestOf(c *engine.Container) createRequest {
	var req createRequest
	if raw := c.Spec.Annotations[annCreate]; raw != "" {
		json.Unmarshal([]byte(raw), &req) // written by us; a broken one leaves zero values
	}
	return req
}

func portsOf(c *engine.Container) []portMapping {
	var ports []portMapping
	if raw := c.Spec.Annotations[annPorts]; raw != "" {
		json.Unmarshal([]byte(raw), &ports) // written by us
	}
	return ports
}

// portMapping mirrors network.PortMapping's JSON in the annotation.
type portMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) toJSON(c *engine.Container) containerJSON {
	req := createRequestOf(c)
	st := c.State
	cj := containerJSON{
		ID: c.ID, Created: timeString(c.Created), Path: c.Path, Args: c.Args, Image: c.ImageID,
		Name: "/" + c.Name, RestartCount: c.RestartCount, Driver: "overlay2", Platform: "linux", LogPath: c.LogPath,
		ResolvConfPath: c.Spec.ResolvConfPath, HostsPath: c.Spec.HostsPath, HostnamePath: c.Spec.HostnamePath,
		State: containerState{
			Status: st.Status, Running: st.Running, Restarting: st.Restarting, OOMKilled: st.OOMKilled,
			Dead: st.Status == engine.StatusDead, Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: timeString(st.StartedAt), FinishedAt: timeString(st.FinishedAt),
		},
		HostConfig: req.HostConfig,
		Config:     req.containerConfig,
		Mounts:     []mountPoint{},
	}
	if cj.Args == nil {
		cj.Args = []string{}
	}
	cj.Config.Env, cj.Config.WorkingDir, cj.Config.User = c.Env, c.WorkingDir, c.User
	cj.Config.Image = c.Image
	if cj.Config.Hostname == "" {
		cj.Config.Hostname = c.Spec.Hostname
	}
	if cj.HostConfig.NetworkMode == "" {
		cj.HostConfig.NetworkMode = "bridge"
	}
	if cj.HostConfig.LogConfig.Type == "" {
		cj.HostConfig.LogConfig.Type = "json-file"
	}
	for _, m := range c.Spec.Mounts {
		cj.Mounts = append(cj.Mounts, mountPoint{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly, Mode: ""})
	}
	cj.NetworkSettings = s.networkSettings(c, req)
	return cj
}

func (s *Server) networkSettings(c *engine.Container, req createRequest) networkSettings {
	ns := networkSettings{Ports: map[string][]portBinding{}, Networks: map[string]*endpointSettings{}}
	for p := range req.ExposedPorts {
		ns.Ports[p] = nil
	}
	sbID := c.Spec.Annotations[annSandbox]
	if sbID == "" {
		return ns
	}
	ns.SandboxKey = c.Spec.NetNS
	if c.State.Running || c.State.Restarting {
		for _, p := range portsOf(c) {
			key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			ns.Ports[key] = append(ns.Ports[key], portBinding{HostIP: ip, HostPort: strconv.Itoa(p.HostPort)})
		}
	}
	ip, gw := c.Spec.Annotations[annIP], c.Spec.Annotations[annGateway]
	ns.IPAddress, ns.Gateway, ns.IPPrefixLen = ip, gw, s.cfg.SubnetBits
	ns.Bridge = s.cfg.BridgeName
	ns.Networks["bridge"] = &endpointSettings{IPAddress: ip, Gateway: gw, IPPrefixLen: s.cfg.SubnetBits, NetworkID: "bridge"}
	return ns
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	writeJSON(w, http.StatusOK, s.toJSON(c))
	return nil
}

// humanDuration is docker's units.HumanDuration, which `docker ps` shows.
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", h/24/365)
	}
}

func statusText(st engine.ContainerState, created time.Time) string {
	now := time.Now()
	switch st.Status {
	case engine.StatusRunning:
		return "Up " + humanDuration(now.Sub(st.StartedAt))
	case engine.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
	case engine.StatusExited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
	case engine.StatusCreated:
		return "Created"
	case engine.StatusDead:
		return "Dead"
	}
	return st.Status
}

func (s *Server) toSummary(c *engine.Container) containerSummary {
	req := createRequestOf(c)
	cs := containerSummary{
		ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
		Command: strings.Join(append([]string{c.Path}, c.Args...), " "), Created: c.Created.Unix(),
		Ports: []apiPort{}, Labels: c.Spec.Labels, State: c.State.Status, Status: statusText(c.State, c.Created),
		Mounts: []mountPoint{},
	}
	if cs.Labels == nil {
		cs.Labels = map[string]string{}
	}
	cs.HostConfig.NetworkMode = req.HostConfig.NetworkMode
	if cs.HostConfig.NetworkMode == "" {
		cs.HostConfig.NetworkMode = "bridge"
	}
	ns := s.networkSettings(c, req)
	cs.NetworkSettings.Networks = ns.Networks
	for key, binds := range ns.Ports {
		port, proto, _ := strings.Cut(key, "/")
		pp, _ := strconv.Atoi(port)
		if len(binds) == 0 {
			cs.Ports = append(cs.Ports, apiPort{PrivatePort: pp, Type: proto})
		}
		for _, b := range binds {
			hp, _ := strconv.Atoi(b.HostPort)
			cs.Ports = append(cs.Ports, apiPort{IP: b.HostIP, PrivatePort: pp, PublicPort: hp, Type: proto})
		}
	}
	sort.Slice(cs.Ports, func(i, j int) bool { return cs.Ports[i].PrivatePort < cs.Ports[j].PrivatePort })
	return cs
}

// containerList is GET /containers/json (docker ps). Filters: name, id,
// label, status, ancestor.
func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	all := boolParam(q.Get("all")) || len(f["status"]) > 0
	cs, err := s.eng.List(r.Context(), engine.ListOptions{All: all})
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	out := []containerSummary{}
	for i := range cs {
		c := &cs[i]
		if !containerMatches(c, f) {
			continue
		}
		if _, isBuild := c.Spec.Labels["berth.build"]; isBuild {
			continue
		}
		out = append(out, s.toSummary(c))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func containerMatches(c *engine.Container, f imageFilters) bool {
	anyOf := func(key string, ok func(v string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return anyOf("name", func(v string) bool { return strings.Contains(c.Name, strings.TrimPrefix(v, "/")) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		anyOf("status", func(v string) bool { return c.State.Status == v }) &&
		anyOf("ancestor", func(v string) bool { return c.Image == v || c.ImageID == v || familiarRef(c.Image) == familiarRef(v) }) &&
		func() bool {
			for l := range f["label"] {
				k, v, hasV := strings.Cut(l, "=")
				got, ok := c.Spec.Labels[k]
				if !ok || hasV && got != v {
					return false
				}
			}
			return true
		}()
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	if c.State.Running {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := s.eng.Start(r.Context(), c.ID); err != nil {
		if st := s.statusOf(err); st == http.StatusInternalServerError {
			// The runtime refused the process (missing executable, bad
			// user): docker reports those as a bad request, and the CLI
			// maps "executable file not found" to exit 127.
			return errorf(http.StatusBadRequest, "failed to create task for container: %v", err)
		}
		return err
	}
	s.watchExit(c)
	s.containerEvent("start", c, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopOptions reads ?t= (seconds) and ?signal=.
func stopOptions(r *http.Request) (engine.StopOptions, error) {
	var o engine.StopOptions
	q := r.URL.Query()
	if t := q.Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return o, badRequest("invalid value for t: %q", t)
		}
		d := time.Duration(n) * time.Second
		if n < 0 {
			d = 0
		}
		o.Timeout = &d
	}
	o.Signal = q.Get("signal")
	return o, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	if !c.State.Running && !c.State.Restarting {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	o, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := s.eng.Stop(r.Context(), c.ID, o); err != nil {
		return noSuchContainer(id, err)
	}
	s.containerEvent("stop", c, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	o, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := s.eng.Restart(r.Context(), id, o); err != nil {
		return noSuchContainer(id, err)
	}
	if c, err := s.eng.Container(r.Context(), id); err == nil {
		s.watchExit(c)
		s.containerEvent("restart", c, nil)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseSignal accepts "SIGKILL", "KILL", "kill" or "9".
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	if sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG")); sig != 0 {
		return sig, nil
	}
	return 0, badRequest("Invalid signal: %s", s)
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	sig, err := parseSignal(r.URL.Query().Get("signal"))
	if err != nil {
		return err
	}
	if err := s.eng.Kill(r.Context(), id, sig); err != nil {
		if errors.Is(err, engine.ErrNotRunning) {
			return conflict("Cannot kill container: %s: Container %s is not running", id, id)
		}
		return noSuchContainer(id, err)
	}
	if c, err := s.eng.Container(r.Context(), id); err == nil {
		s.containerEvent("kill", c, map[string]string{"signal": strconv.Itoa(int(sig))})
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	force := boolParam(r.URL.Query().Get("force"))
	if err := s.eng.RemoveContainer(r.Context(), c.ID, engine.RemoveOptions{Force: force}); err != nil {
		if errors.Is(err, engine.ErrRunning) {
			return conflict("cannot remove container \"/%s\": container is running: stop the container before removing or force remove", c.Name)
		}
		return noSuchContainer(id, err)
	}
	// Published ports are released before answering (the watcher would do
	// it too, a moment later), so a following `docker run -p` with the same
	// port finds it free; without ports the watcher's release is enough.
	if sb := c.Spec.Annotations[annSandbox]; sb != "" && s.sandboxes != nil && len(portsOf(c)) > 0 {
		if err := s.sandboxes.release(r.Context(), sb); err != nil {
			return fmt.Errorf("release network of %s: %w", id, err)
		}
	}
	s.containerEvent("destroy", c, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("id"), r.URL.Query().Get("name")
	if name == "" {
		return badRequest("Error when allocating new name: name is empty")
	}
	if err := s.eng.Rename(r.Context(), id, name); err != nil {
		if errors.Is(err, engine.ErrNameInUse) {
			return conflict("Error when allocating new name: Conflict. The container name \"/%s\" is already in use.", strings.TrimPrefix(name, "/"))
		}
		return noSuchContainer(id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	h, w2, err := sizeParams(r)
	if err != nil {
		return err
	}
	if err := s.eng.Resize(r.Context(), id, w2, h); err != nil {
		return noSuchContainer(id, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func sizeParams(r *http.Request) (uint16, uint16, error) {
	q := r.URL.Query()
	h, err1 := strconv.ParseUint(q.Get("h"), 10, 16)
	w, err2 := strconv.ParseUint(q.Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, badRequest("invalid resize parameters h=%q w=%q", q.Get("h"), q.Get("w"))
	}
	return uint16(h), uint16(w), nil
}

// containerWait is POST /containers/{id}/wait.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	cond := engine.WaitNotRunning
	switch r.URL.Query().Get("condition") {
	case "", "not-running":
	case "next-exit":
		cond = engine.WaitNextExit
	case "removed":
		cond = engine.WaitRemoved
	default:
		return badRequest("invalid condition: %q", r.URL.Query().Get("condition"))
	}
	// Registered before the header goes out: docker run sends wait before
	// start and starts once the header arrives, so the exit can't be missed.
	ch, err := s.eng.WaitChan(r.Context(), c.ID, cond)
	if err != nil {
		return noSuchContainer(id, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	res := <-ch
	body := map[string]any{"StatusCode": 0, "Error": nil}
	if res.Err != nil {
		body["Error"] = map[string]string{"Message": res.Err.Error()}
	} else {
		body["StatusCode"] = res.State.ExitCode
		if cond == engine.WaitRemoved {
			// As in containerRemove: ports are free once --rm returns.
			if sb := c.Spec.Annotations[annSandbox]; sb != "" && s.sandboxes != nil && len(portsOf(c)) > 0 {
				if err := s.sandboxes.release(context.WithoutCancel(r.Context()), sb); err != nil {
					s.log.Error("release container network", "container", c.ID, "err", err)
				}
			}
		}
	}
	json.NewEncoder(w).Encode(body)
	return nil
}

// logParams reads the query of GET /containers/{id}/logs.
func logParams(r *http.Request) (engine.LogOptions, bool, error) {
	q := r.URL.Query()
	o := engine.LogOptions{Follow: boolParam(q.Get("follow")), Stdout: boolParam(q.Get("stdout")), Stderr: boolParam(q.Get("stderr"))}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return o, false, badRequest("invalid tail: %q", t)
		}
		o.Tail, o.TailSet = n, true
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		v := q.Get(p.key)
		if v == "" || v == "0" {
			continue
		}
		sec, frac, _ := strings.Cut(v, ".")
		si, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return o, false, badRequest("invalid %s: %q", p.key, v)
		}
		var ns int64
		if frac != "" {
			frac = (frac + "000000000")[:9]
			ns, _ = strconv.ParseInt(frac, 10, 64)
		}
		*p.dst = time.Unix(si, ns)
	}
	return o, boolParam(q.Get("timestamps")), nil
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	o, ts, err := logParams(r)
	if err != nil {
		return err
	}
	if !o.Stdout && !o.Stderr {
		return badRequest("Bad parameters: you must choose at least one stream")
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if c.Spec.Tty {
		ct = "application/vnd.docker.raw-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	stdout, stderr := outputs(fw, c.Spec.Tty)
	err = s.eng.Logs(r.Context(), c.ID, o, func(le engine.LogEntry) error {
		out := stdout
		if le.Stream == "stderr" {
			out = stderr
		}
		line := le.Line
		if ts {
			line = append([]byte(le.Time.UTC().Format(time.RFC3339Nano)+" "), line...)
		}
		_, err := out.Write(line)
		return err
	})
	if err != nil && r.Context().Err() == nil {
		s.log.Debug("logs ended", "container", id, "err", err)
	}
	return nil
}

// containerAttach is POST /containers/{id}/attach: the connection is
// hijacked and carries the container's stdio until its output ends.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	q := r.URL.Query()
	if !boolParam(q.Get("stream")) && !boolParam(q.Get("logs")) {
		return badRequest("Bad parameters: you must choose at least one stream")
	}
	conn, err := takeOver(w)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The attach is handed to the engine before the client gets its answer:
	// docker run sends start right after, and the engine must see the
	// attach first to hand it all of the new process's output.
	open := make(chan struct{})
	stdout, stderr := outputs(gatedWriter{open: open, w: conn}, c.Spec.Tty)
	opts := engine.AttachOptions{}
	if boolParam(q.Get("stdout")) {
		opts.Stdout = stdout
	}
	if boolParam(q.Get("stderr")) {
		opts.Stderr = stderr
	}
	if boolParam(q.Get("stdin")) {
		opts.Stdin = conn
	}
	// A client that half-closes (no stdin) still reads the output; one that
	// goes away makes the next write fail, which ends the attach.
	done := make(chan error, 1)
	go func() { done <- s.eng.Attach(s.baseCtx, c.ID, opts) }()
	runtime.Gosched()
	conn.respond(r, c.Spec.Tty)
	close(open)
	if err := <-done; err != nil && s.baseCtx.Err() == nil {
		fmt.Fprintf(stderr, "attach: %v\n", err)
	}
	conn.CloseWrite()
	return nil
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	pids, err := s.eng.Pids(r.Context(), id)
	if err != nil {
		if errors.Is(err, engine.ErrNotRunning) {
			return conflict("Container %s is not running", id)
		}
		return noSuchContainer(id, err)
	}
	titles, procs := psTable(pids)
	writeJSON(w, http.StatusOK, map[string]any{"Titles": titles, "Processes": procs})
	return nil
}

// psTable describes pids the way `ps -ef` does, read from /proc.
func psTable(pids []int) ([]string, [][]string) {
	titles := []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}
	procs := [][]string{}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		// comm may hold spaces and parens: fields start after the last ')'.
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		ppid, ticks := "", uint64(0)
		if len(f) > 13 {
			ppid = f[1]
			ut, _ := strconv.ParseUint(f[11], 10, 64)
			st, _ := strconv.ParseUint(f[12], 10, 64)
			ticks = ut + st
		}
		uid := "?"
		if st, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				uid = strconv.Itoa(int(sys.Uid))
			}
		}
		secs := ticks / 100
		cmd := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		procs = append(procs, []string{uid, strconv.Itoa(pid), ppid, "0", "-", "?",
			fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60), cmd})
	}
	return titles, procs
}
