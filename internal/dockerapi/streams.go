package dockerapi

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Stream ids of the multiplexed framing (moby pkg/stdcopy).
const (
	streamStdin  byte = 0
	streamStdout byte = 1
	streamStderr byte = 2
)

// muxWriter frames writes as one stream of a multiplexed attach/logs body:
// an 8-byte header [stream, 0, 0, 0, size (big endian uint32)] then the
// payload. Writes from several muxWriters on one connection are serialized.
type muxWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

func (m muxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hdr [8]byte
	hdr[0] = m.stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := m.w.Write(p)
	if f, ok := m.w.(interface{ Flush() error }); ok && err == nil {
		err = f.Flush()
	}
	return n, err
}

// outputs returns the writers for a container's stdout and stderr: both the
// raw connection when the container has a TTY (one stream), else the
// multiplexed framing.
func outputs(w io.Writer, tty bool) (stdout, stderr io.Writer) {
	if tty {
		return w, w
	}
	mu := &sync.Mutex{}
	return muxWriter{mu, w, streamStdout}, muxWriter{mu, w, streamStderr}
}

// hijacked is a connection taken over from net/http for an attach or exec
// session. Reads come from the buffered reader (it may already hold stdin
// the client sent with the request), writes go straight to the socket.
type hijacked struct {
	net.Conn
	r *bufio.Reader
}

func (h *hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }

// CloseWrite half-closes the socket so the client sees the end of output
// while it may still be sending stdin.
func (h *hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return h.Conn.Close()
}

// hijack takes over the connection and writes the response line that
// docker/cli's hijack expects: 101 UPGRADED when the client asked to
// upgrade to "tcp", else a plain 200, both with the stream's content type.
func hijack(w http.ResponseWriter, r *http.Request, tty bool) (*hijacked, error) {
	h, err := takeOver(w)
	if err != nil {
		return nil, err
	}
	h.respond(r, tty)
	return h, nil
}

// takeOver hijacks the connection without answering yet.
func takeOver(w http.ResponseWriter) (*hijacked, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, fmt.Errorf("connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack: %w", err)
	}
	return &hijacked{Conn: conn, r: brw.Reader}, nil
}

func (h *hijacked) respond(r *http.Request, tty bool) {
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	if r.Header.Get("Upgrade") != "" {
		fmt.Fprintf(h.Conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	} else {
		fmt.Fprintf(h.Conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ct)
	}
}

// gatedWriter holds writes until open is closed, so output that arrives
// before the response line waits for it.
type gatedWriter struct {
	open <-chan struct{}
	w    io.Writer
}

func (g gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.w.Write(p)
}

// flushWriter flushes after every write so progress and log lines reach the
// CLI as they happen.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func newFlushWriter(w http.ResponseWriter) flushWriter {
	f, _ := w.(http.Flusher)
	return flushWriter{w: w, f: f}
}

func (fw flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}
