package kubelet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/berth-dev/berth/internal/network"
)

// serve runs the HTTPS server the API server proxies pod streams to. Only
// clients with a certificate from the cluster CA in system:masters (the API
// server) get in.
func (k *Kubelet) serve(ctx context.Context) error {
	if k.cfg.Port == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(k.cfg.ClientCA) {
		k.log.Error("no client CA: the streaming server stays off (logs, exec and port-forward are unavailable)")
		return nil
	}
	cert, err := selfSignedCert(k.cfg.NodeName, k.cfg.NodeIP)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(k.cfg.Port)))
	if err != nil {
		return fmt.Errorf("kubelet listen: %w", err)
	}
	srv := &http.Server{
		Handler:           requireMaster(k.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx) // streams still open are cut; they end with ctx anyway
	}()
	k.log.Info("kubelet server listening", "port", k.cfg.Port)
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return nil
}

// requireMaster admits only verified client certificates in system:masters.
func requireMaster(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			writeStatus(w, apierrors.NewUnauthorized("client certificate required"))
			return
		}
		for _, o := range r.TLS.VerifiedChains[0][0].Subject.Organization {
			if o == "system:masters" {
				h.ServeHTTP(w, r)
				return
			}
		}
		writeStatus(w, apierrors.NewForbidden(corev1.Resource("nodes"), "proxy", fmt.Errorf("user %q may not use the kubelet API", r.TLS.VerifiedChains[0][0].Subject.CommonName)))
	})
}

func selfSignedCert(name, ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
	}
	if p := net.ParseIP(ip); p != nil {
		tmpl.IPAddresses = []net.IP{p}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Handler serves upstream's kubelet paths: /containerLogs, /exec, /attach,
// /portForward, /stats/summary, /pods, /healthz.
func (k *Kubelet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", k.serveLogs)
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/attach/{ns}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/portForward/{ns}/{pod}", k.servePortForward)
	mux.HandleFunc("GET /stats/summary", k.serveSummary)
	mux.HandleFunc("GET /pods", k.servePods)
	return mux
}

func writeStatus(w http.ResponseWriter, err error) {
	var st metav1.Status
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).ErrStatus
	}
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	json.NewEncoder(w).Encode(st) // the client may be gone; nothing to do then
}

// findContainer returns the pod and the attempt of container c that a
// request means (the previous one for --previous).
func (k *Kubelet) findContainer(ctx context.Context, ns, name, c string, previous bool) (*corev1.Pod, *ContainerInfo, error) {
	pod, err := k.pods.Pods(ns).Get(name)
	if err != nil {
		return nil, nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	if specContainer(pod, c) == nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", c, name))
	}
	all, err := k.rt.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID), LabelContainerName: c})
	if err != nil {
		return nil, nil, err
	}
	atts := groupAttempts(all)[c]
	if previous {
		if len(atts) < 2 {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", c, name))
		}
		return pod, &atts[1], nil
	}
	if len(atts) == 0 {
		reason := ReasonContainerCreating
		for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
			if s.Name == c && s.State.Waiting != nil {
				reason = s.State.Waiting.Reason
			}
		}
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", c, name, reason))
	}
	return pod, &atts[0], nil
}

func (k *Kubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	previous, _ := strconv.ParseBool(q.Get("previous"))
	_, ci, err := k.findContainer(r.Context(), r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container"), previous)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts := LogOptions{Tail: -1}
	opts.Follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.Timestamp, _ = strconv.ParseBool(q.Get("timestamps"))
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeStatus(w, apierrors.NewBadRequest("tailLines must be a non-negative integer"))
			return
		}
		opts.Tail = n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeStatus(w, apierrors.NewBadRequest("sinceSeconds must be a positive integer"))
			return
		}
		opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeStatus(w, apierrors.NewBadRequest("sinceTime must be RFC 3339"))
			return
		}
		opts.Since = t
	}
	limit := int64(-1)
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeStatus(w, apierrors.NewBadRequest("limitBytes must be a positive integer"))
			return
		}
		limit = n
	}
	if previous || !ci.State.Running {
		opts.Follow = false
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	errLimit := errors.New("limit reached")
	err = k.rt.Logs(r.Context(), ci.ID, opts, func(stream string, t time.Time, line []byte) error {
		if opts.Timestamp {
			line = append([]byte(t.UTC().Format(time.RFC3339Nano)+" "), line...)
		}
		if limit >= 0 {
			if int64(len(line)) > limit {
				line = line[:limit]
			}
			limit -= int64(len(line))
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if opts.Follow && flusher != nil {
			flusher.Flush()
		}
		if limit == 0 {
			return errLimit
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) && r.Context().Err() == nil {
		k.log.Debug("logs stream ended", "err", err)
	}
}

// Channels of the Kubernetes remote command websocket protocol.
const (
	chStdin  = 0
	chStdout = 1
	chStderr = 2
	chError  = 3
	chResize = 4
	chClose  = 255
)

// wsWriter frames writes for one channel of a websocket.
type wsWriter struct {
	mu *sync.Mutex
	ws *websocket.Conn
	ch byte
}

func (w wsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.ws.WriteMessage(websocket.BinaryMessage, append([]byte{w.ch}, p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// execStreams are one exec or attach session's streams, whichever
// protocol carries them.
type execStreams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	resize         <-chan TermSize
	// finish sends the final status and ends the session.
	finish func(metav1.Status)
}

// serveExec serves exec and attach over websocket (v5.channel.k8s.io and
// v4, what kubectl offers first) or over SPDY/3.1 with v4.channel.k8s.io
// (client-go's SPDY executor, kubectl before 1.30 and its fallback).
func (k *Kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	attach := strings.HasPrefix(r.URL.Path, "/attach/")
	_, ci, err := k.findContainer(r.Context(), r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container"), false)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if !ci.State.Running {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("container %s is not running", r.PathValue("container"))))
		return
	}
	cmd := q["command"]
	if !attach && len(cmd) == 0 {
		writeStatus(w, apierrors.NewBadRequest("you must specify at least 1 command"))
		return
	}
	flag := func(name string) bool { return q.Get(name) == "true" || q.Get(name) == "1" }
	o := streamOptions{stdin: flag("stdin"), stdout: q.Get("stdout") != "false", stderr: flag("stderr"), tty: flag("tty")}
	if o.tty {
		// One terminal carries both; clients open no stderr stream then.
		o.stderr = false
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var s *execStreams
	switch {
	case websocket.IsWebSocketUpgrade(r):
		s = websocketStreams(w, r, o, cancel)
	case strings.EqualFold(r.Header.Get(httpstream.HeaderUpgrade), spdy.HeaderSpdy31):
		s = spdyStreams(w, r, o, cancel)
	default:
		writeStatus(w, apierrors.NewBadRequest("exec and attach need a websocket (v5.channel.k8s.io) or SPDY/3.1 upgrade"))
		return
	}
	if s == nil {
		return // the upgrade answered the client
	}
	var status metav1.Status
	if attach {
		err = k.rt.Attach(ctx, ci.ID, s.stdin, s.stdout, s.stderr)
		status = metav1.Status{Status: metav1.StatusSuccess}
		if err != nil {
			status = metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError, Code: 500}
		}
	} else {
		var code int
		code, err = k.rt.Exec(ctx, ci.ID, ExecOptions{Cmd: cmd, Tty: o.tty, Stdin: s.stdin, Stdout: s.stdout, Stderr: s.stderr, Resize: s.resize})
		status = execStatus(code, err)
	}
	s.finish(status)
}

// streamOptions are the streams a client asked for.
type streamOptions struct{ stdin, stdout, stderr, tty bool }

// websocketStreams upgrades to the channel protocol: one websocket, the
// first byte of each message names the stream. cancel is called when the
// client goes away.
func websocketStreams(w http.ResponseWriter, r *http.Request, o streamOptions, cancel func()) *execStreams {
	up := websocket.Upgrader{
		Subprotocols: []string{"v5.channel.k8s.io", "v4.channel.k8s.io"},
		CheckOrigin:  func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil
	}
	mu := &sync.Mutex{}
	resize := make(chan TermSize, 4)
	stdinR, stdinW := io.Pipe()
	s := &execStreams{resize: resize}
	if o.stdin {
		s.stdin = stdinR
	}
	go func() {
		defer stdinW.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				cancel() // the client went away
				return
			}
			if len(data) == 0 {
				continue
			}
			switch data[0] {
			case chStdin:
				if _, err := stdinW.Write(data[1:]); err != nil {
					continue // the process closed its stdin; drop input
				}
			case chClose:
				if len(data) == 2 && data[1] == chStdin {
					stdinW.Close()
				}
			case chResize:
				var sz TermSize
				if json.Unmarshal(data[1:], &sz) == nil && sz.Width > 0 {
					select {
					case resize <- sz:
					default: // a newer size follows; drop this one
					}
				}
			}
		}
	}()
	if o.stdout {
		s.stdout = wsWriter{mu, ws, chStdout}
	}
	if o.stderr {
		s.stderr = wsWriter{mu, ws, chStderr}
	}
	s.finish = func(status metav1.Status) {
		defer ws.Close()
		b, _ := json.Marshal(status) // a Status always marshals
		mu.Lock()
		defer mu.Unlock()
		ws.WriteMessage(websocket.BinaryMessage, append([]byte{chError}, b...))
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
	return s
}

// spdyStreamTimeout bounds the wait for the client to open its streams.
const spdyStreamTimeout = 30 * time.Second

// spdyStreams upgrades to SPDY/3.1 and waits for the streams the client
// opens, told apart by their streamType header (remotecommand protocol
// v4: error, stdin, stdout, stderr and, with a tty, resize). cancel is
// called when the connection closes.
func spdyStreams(w http.ResponseWriter, r *http.Request, o streamOptions, cancel func()) *execStreams {
	if _, err := httpstream.Handshake(r, w, []string{"v4.channel.k8s.io"}); err != nil {
		return nil // Handshake answered the client
	}
	streams := make(chan httpstream.Stream, 5)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, _ <-chan struct{}) error {
		select {
		case streams <- st:
			return nil
		default:
			return errors.New("too many streams")
		}
	})
	if conn == nil {
		return nil
	}
	want := 1 // the error stream
	for _, b := range []bool{o.stdin, o.stdout, o.stderr, o.tty} {
		if b {
			want++
		}
	}
	var errS, resizeS httpstream.Stream
	var opened []httpstream.Stream
	s := &execStreams{}
	timeout := time.NewTimer(spdyStreamTimeout)
	defer timeout.Stop()
	for len(opened) < want {
		select {
		case st := <-streams:
			opened = append(opened, st)
			switch st.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				errS = st
			case corev1.StreamTypeStdin:
				s.stdin = st
			case corev1.StreamTypeStdout:
				s.stdout = st
			case corev1.StreamTypeStderr:
				s.stderr = st
			case corev1.StreamTypeResize:
				resizeS = st
			default:
				st.Reset()
			}
		case <-timeout.C:
			conn.Close()
			return nil
		case <-conn.CloseChan():
			return nil
		}
	}
	if errS == nil {
		conn.Close()
		return nil
	}
	if resizeS != nil {
		resize := make(chan TermSize, 4)
		s.resize = resize
		go func() {
			dec := json.NewDecoder(resizeS)
			for {
				var sz TermSize
				if dec.Decode(&sz) != nil {
					return
				}
				if sz.Width > 0 {
					select {
					case resize <- sz:
					default: // a newer size follows; drop this one
					}
				}
			}
		}()
	}
	go func() {
		<-conn.CloseChan()
		cancel()
	}()
	s.finish = func(status metav1.Status) {
		b, _ := json.Marshal(status) // a Status always marshals
		errS.Write(b)
		// Closing sends each stream's FIN, so the client reads the
		// output to its end before the connection goes.
		for _, st := range opened {
			st.Close()
		}
		conn.Close()
	}
	return s
}

// execStatus is the status frame kubectl turns into its exit code.
func execStatus(code int, err error) metav1.Status {
	if err != nil {
		return metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError, Code: 500}
	}
	if code == 0 {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	return metav1.Status{
		Status:  metav1.StatusFailure,
		Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
		Reason:  "NonZeroExitCode",
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}},
	}
}

// servePortForward speaks the kubelet port-forward protocol (SPDY streams
// in pairs per port: error and data, tied by requestID), either over plain
// SPDY/3.1 or tunnelled in a websocket ("SPDY/3.1+portforward.k8s.io").
func (k *Kubelet) servePortForward(w http.ResponseWriter, r *http.Request) {
	pod, err := k.pods.Pods(r.PathValue("ns")).Get(r.PathValue("pod"))
	if err != nil {
		writeStatus(w, apierrors.NewNotFound(corev1.Resource("pods"), r.PathValue("pod")))
		return
	}
	sb, err := loadSandbox(podDir(k.cfg.DataDir, pod.UID))
	if err != nil || sb.NetNS == "" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s has no network sandbox yet", pod.Name)))
		return
	}
	streams := make(chan httpstream.Stream, 4)
	handler := func(s httpstream.Stream, replySent <-chan struct{}) error {
		streams <- s
		return nil
	}
	var conn httpstream.Connection
	if websocket.IsWebSocketUpgrade(r) {
		up := websocket.Upgrader{Subprotocols: []string{"SPDY/3.1+portforward.k8s.io"}, CheckOrigin: func(*http.Request) bool { return true }}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conn, err = spdy.NewServerConnection(portforward.NewTunnelingConnection("server", ws), handler)
		if err != nil {
			ws.Close()
			return
		}
	} else {
		if _, err := httpstream.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
			return // Handshake answered the client
		}
		conn = spdy.NewResponseUpgrader().UpgradeResponse(w, r, handler)
		if conn == nil {
			return
		}
	}
	defer conn.Close()
	conn.SetIdleTimeout(4 * time.Hour)
	pairs := map[string]*streamPair{}
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-r.Context().Done():
			return
		case s := <-streams:
			id := s.Headers().Get(corev1.PortForwardRequestIDHeader)
			p := pairs[id]
			if p == nil {
				p = &streamPair{}
				pairs[id] = p
			}
			switch s.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				p.errS = s
			case corev1.StreamTypeData:
				p.data = s
			default:
				s.Reset()
				continue
			}
			if p.errS != nil && p.data != nil {
				delete(pairs, id)
				go k.forward(r.Context(), sb.NetNS, p, conn)
			}
		}
	}
}

type streamPair struct{ errS, data httpstream.Stream }

// forward copies one port-forward connection to the port inside the pod's
// network namespace (so a server bound to 127.0.0.1 is reachable too).
func (k *Kubelet) forward(ctx context.Context, netns string, p *streamPair, conn httpstream.Connection) {
	defer conn.RemoveStreams(p.errS, p.data)
	defer p.errS.Close()
	port := p.data.Headers().Get(corev1.PortHeader)
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		fmt.Fprintf(p.errS, "invalid port %q", port)
		p.data.Reset()
		return
	}
	c, err := network.DialInNetns(ctx, netns, "tcp4", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintf(p.errS, "error forwarding port %s to pod: %v", port, err)
		p.data.Reset()
		return
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(c, p.data) // ends when the client closes its side
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(p.data, c)
		p.data.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}

func (k *Kubelet) servePods(w http.ResponseWriter, r *http.Request) {
	pods, _ := k.pods.List(labels.Everything()) // lister reads never fail
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range pods {
		list.Items = append(list.Items, *p)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}
