package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// containerProbes holds the probe results of one running container.
type containerProbes struct {
	id     string
	cancel context.CancelFunc
	mu     sync.Mutex
	ready  bool
	start  bool
}

func (p *containerProbes) stop() { p.cancel() }

func (p *containerProbes) set(ready, started *bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ready != nil {
		p.ready = *ready
	}
	if started != nil {
		p.start = *started
	}
}

// probeState returns (ready, started) of a container attempt: a container
// without a readiness (startup) probe is ready (started) once running, one
// with a probe only after it succeeded.
func (w *podWorker) probeState(c *corev1.Container, id string) (bool, bool) {
	w.mu.Lock()
	p := w.probes[c.Name]
	w.mu.Unlock()
	if p == nil || p.id != id {
		return c.ReadinessProbe == nil, c.StartupProbe == nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready, p.start
}

// ensureProbes starts the probers of a running container attempt once.
func (w *podWorker) ensureProbes(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ci *ContainerInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.probes[c.Name]; p != nil {
		if p.id == ci.ID {
			return
		}
		p.stop()
	}
	if c.ReadinessProbe == nil && c.LivenessProbe == nil && c.StartupProbe == nil {
		delete(w.probes, c.Name)
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &containerProbes{id: ci.ID, cancel: cancel, ready: c.ReadinessProbe == nil, start: c.StartupProbe == nil}
	w.probes[c.Name] = p
	started := make(chan struct{})
	if c.StartupProbe == nil {
		close(started)
	} else {
		go w.probeLoop(pctx, pod, c, ci.ID, "Startup", c.StartupProbe, p, started)
	}
	if c.ReadinessProbe != nil {
		go w.probeLoop(pctx, pod, c, ci.ID, "Readiness", c.ReadinessProbe, p, started)
	}
	if c.LivenessProbe != nil {
		go w.probeLoop(pctx, pod, c, ci.ID, "Liveness", c.LivenessProbe, p, started)
	}
}

// probeLoop runs one probe with its timing fields (upstream's prober
// worker): readiness and liveness wait for the startup probe; a result
// counts once successThreshold/failureThreshold results agree.
func (w *podWorker) probeLoop(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, kind string, pr *corev1.Probe, p *containerProbes, started chan struct{}) {
	if kind != "Startup" {
		select {
		case <-ctx.Done():
			return
		case <-started:
		}
	}
	period := time.Duration(orDefault(pr.PeriodSeconds, 10)) * time.Second
	timeout := time.Duration(orDefault(pr.TimeoutSeconds, 1)) * time.Second
	successTh, failureTh := orDefault(pr.SuccessThreshold, 1), orDefault(pr.FailureThreshold, 3)
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(pr.InitialDelaySeconds) * time.Second):
	}
	var okRun, failRun int32
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		out, err := w.k.runProbe(pctx, pod, c, id, pr.ProbeHandler, w.podIP())
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
			msg := strings.TrimSpace(out)
			if msg == "" {
				msg = err.Error()
			}
			w.k.recorder.Eventf(pod, corev1.EventTypeWarning, EventUnhealthy, "%s probe failed: %s", kind, msg)
		}
		switch kind {
		case "Readiness":
			if okRun >= successTh {
				v := true
				p.set(&v, nil)
				w.kick()
			} else if failRun >= failureTh {
				v := false
				p.set(&v, nil)
				w.kick()
			}
		case "Startup":
			if okRun >= 1 {
				v := true
				p.set(nil, &v)
				close(started)
				w.kick()
				return
			}
			if failRun >= failureTh {
				w.killUnhealthy(ctx, pod, c, id, "startup", pr)
				return
			}
		case "Liveness":
			if failRun >= failureTh {
				w.killUnhealthy(ctx, pod, c, id, "liveness", pr)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *podWorker) killUnhealthy(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, what string, pr *corev1.Probe) {
	w.k.recorder.Eventf(pod, corev1.EventTypeNormal, EventKilling, "Container %s failed %s probe, will be restarted", c.Name, what)
	grace := gracePeriod(pod)
	if pr.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
	}
	if err := w.k.rt.StopContainer(ctx, id, grace); err != nil {
		w.k.log.Warn("stop unhealthy container", "pod", w.key(), "container", c.Name, "err", err)
	}
	w.kick()
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

// runProbe runs one exec, httpGet, tcpSocket or grpc check; a nil error is
// success. The string is output worth showing in an Unhealthy event.
func (k *Kubelet) runProbe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h corev1.ProbeHandler, podIP string) (string, error) {
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := k.rt.Exec(ctx, id, ExecOptions{Cmd: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("command timed out")
			}
			return out.String(), err
		}
		if code != 0 {
			return out.String(), fmt.Errorf("command %q exited with %d", strings.Join(h.Exec.Command, " "), code)
		}
		return out.String(), nil
	case h.HTTPGet != nil:
		return httpCheck(ctx, pod, c, h.HTTPGet, podIP)
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := resolvePort(h.TCPSocket.Port, c)
		if err != nil {
			return "", err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return "", fmt.Errorf("dial tcp %s:%d: %w", host, port, err)
		}
		conn.Close()
		return "", nil
	}
	return "", fmt.Errorf("probe has no handler berth supports")
}

func httpCheck(ctx context.Context, pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction, podIP string) (string, error) {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	full := u.String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "kube-probe/1.33")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	// Probes never verify certificates, as upstream; redirects to other
	// hosts are not followed.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}} //nolint:gosec // upstream semantics
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("Get %q: %w", full, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<10)) // only for the message
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return "", fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return string(body), nil
}

// resolvePort turns a number or a named container port into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port %q in container %s", p.StrVal, c.Name)
}

// runHandler runs a postStart or preStop hook.
func (k *Kubelet) runHandler(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, podIP string) (string, error) {
	switch {
	case h.Exec != nil:
		return k.runProbe(ctx, pod, c, id, corev1.ProbeHandler{Exec: h.Exec}, podIP)
	case h.HTTPGet != nil:
		return httpCheck(ctx, pod, c, h.HTTPGet, podIP)
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return "", nil
	}
	return "", fmt.Errorf("lifecycle handler has no action berth supports")
}
