package dockerapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/engine"
)

// event is one entry of GET /events (moby api/types/events.Message).
type event struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// events fans out what happens through this API (and container exits,
// which the engine reports) to GET /events streams, keeping the last
// eventHistory events for --since. Changes made by other engine clients
// (the kubelet) are not seen here.
type events struct {
	mu      sync.Mutex
	history []event
	subs    map[chan event]struct{}
}

const eventHistory = 256

func (e *events) publish(typ, action, id string, attrs map[string]string) {
	now := time.Now()
	ev := event{Type: typ, Action: action, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	ev.Actor.ID, ev.Actor.Attributes = id, attrs
	if ev.Actor.Attributes == nil {
		ev.Actor.Attributes = map[string]string{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.history = append(e.history, ev)
	if len(e.history) > eventHistory {
		e.history = e.history[len(e.history)-eventHistory:]
	}
	for ch := range e.subs {
		select {
		case ch <- ev:
		default: // a subscriber that doesn't read loses events rather than stalling everyone
		}
	}
}

// containerEvent publishes a container event with docker's attributes.
func (s *Server) containerEvent(action string, c *engine.Container, extra map[string]string) {
	attrs := map[string]string{"name": c.Name, "image": c.Image}
	for k, v := range c.Spec.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	s.events.publish("container", action, c.ID, attrs)
}

// watchExit publishes "die" when the container's current run ends.
func (s *Server) watchExit(c *engine.Container) {
	ch, err := s.eng.WaitChan(s.baseCtx, c.ID, engine.WaitNextExit)
	if err != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res := <-ch
		if res.Err != nil || res.State == nil {
			return
		}
		s.containerEvent("die", c, map[string]string{"exitCode": strconv.Itoa(res.State.ExitCode)})
	}()
}

// eventsStream is GET /events: history since ?since=, then live events
// until ?until= or the client leaves. Filters: type, event, container.
func (s *Server) eventsStream(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	parseTime := func(v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		sec, frac, _ := strings.Cut(v, ".")
		si, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			d, derr := time.ParseDuration(v)
			if derr != nil {
				return time.Time{}, badRequest("invalid time %q", v)
			}
			return time.Now().Add(-d), nil
		}
		ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		return time.Unix(si, ns), nil
	}
	since, err := parseTime(q.Get("since"))
	if err != nil {
		return err
	}
	until, err := parseTime(q.Get("until"))
	if err != nil {
		return err
	}
	match := func(ev event) bool {
		ok := func(key, v string) bool { return len(f[key]) == 0 || f[key][v] }
		return ok("type", ev.Type) && ok("event", ev.Action) &&
			(len(f["container"]) == 0 || f["container"][ev.Actor.ID] || f["container"][ev.Actor.Attributes["name"]])
	}
	ch := make(chan event, 64)
	s.events.mu.Lock()
	var past []event
	if !since.IsZero() {
		for _, ev := range s.events.history {
			if ev.TimeNano >= since.UnixNano() {
				past = append(past, ev)
			}
		}
	}
	if s.events.subs == nil {
		s.events.subs = map[chan event]struct{}{}
	}
	s.events.subs[ch] = struct{}{}
	s.events.mu.Unlock()
	defer func() {
		s.events.mu.Lock()
		delete(s.events.subs, ch)
		s.events.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(newFlushWriter(w))
	for _, ev := range past {
		if match(ev) && (until.IsZero() || ev.TimeNano <= until.UnixNano()) {
			enc.Encode(ev)
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case ev := <-ch:
			if match(ev) {
				if err := enc.Encode(ev); err != nil {
					return nil
				}
			}
		case <-deadline:
			return nil
		case <-r.Context().Done():
			return nil
		case <-s.baseCtx.Done():
			return nil
		}
	}
}
