package shim

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// maxLogLine splits very long lines like docker's json-file driver does.
const maxLogLine = 16 * 1024

// LogLine is one line of the json-file log, docker's format.
type LogLine struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logWriter appends json lines to one file, shared by both streams.
type logWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logWriter) write(stream string, line []byte) {
	b, err := json.Marshal(LogLine{Log: string(line), Stream: stream, Time: time.Now().UTC()})
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	// A full disk loses log lines but must never block the container.
	_, _ = l.w.Write(b)
}

// lineSplitter turns a byte stream into log lines.
type lineSplitter struct {
	stream string
	log    *logWriter
	buf    []byte
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		s.log.write(s.stream, s.buf[:i+1])
		s.buf = s.buf[i+1:]
	}
	for len(s.buf) >= maxLogLine {
		s.log.write(s.stream, s.buf[:maxLogLine])
		s.buf = s.buf[maxLogLine:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return len(p), nil
}

// flush writes a trailing partial line.
func (s *lineSplitter) flush() {
	if len(s.buf) > 0 {
		s.log.write(s.stream, s.buf)
		s.buf = nil
	}
}
