package storage

import (
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/watch"
)

// hubBacklog is how many recent events a hub keeps so that a watch
// starting a little in the past (a client resuming after a reconnect, or
// one that listed just before) is still served from memory.
const hubBacklog = 512

// watcherBuffer is how far a watcher may fall behind before it is dropped
// (it then resumes from its last resourceVersion, like upstream's
// terminated slow watchers).
const watcherBuffer = hubBacklog + 256

// hub fans one etcd watch on a resource's prefix out to every watcher of
// that resource: each change is read and decoded once, however many
// informers watch it. Events are shared: receivers must not modify them.
type hub struct {
	s      *Store
	prefix string

	mu       sync.Mutex
	oldest   int64   // every event after this revision is in backlog
	backlog  []Event // in revision order
	watchers map[*hubWatcher]struct{}
	done     bool
}

type hubWatcher struct {
	prefix string
	after  int64 // deliver only events after this revision
	ch     chan Event
}

// resourcePrefix is "/registry/<group>/<resource>/" of a watch prefix.
func resourcePrefix(prefix string) (string, bool) {
	parts := strings.SplitN(prefix, "/", 5) // "", "registry", group, resource, rest
	if len(parts) < 5 || parts[1] != "registry" {
		return "", false
	}
	return "/registry/" + parts[2] + "/" + parts[3] + "/", true
}

// hubFor returns the running hub of a resource prefix, starting it if needed.
func (s *Store) hubFor(prefix string) (*hub, error) {
	s.hubsMu.Lock()
	defer s.hubsMu.Unlock()
	if h, ok := s.hubs[prefix]; ok {
		return h, nil
	}
	// The store's own context: a hub outlives the request that started it.
	rev, err := s.CurrentRevision(s.ctx)
	if err != nil {
		return nil, err
	}
	h := &hub{s: s, prefix: prefix, oldest: rev, watchers: map[*hubWatcher]struct{}{}}
	if s.hubs == nil {
		s.hubs = map[string]*hub{}
	}
	s.hubs[prefix] = h
	go h.run(rev)
	return h, nil
}

// StartWatchCache starts the hubs of the given resource prefixes now, so
// that watches following the first lists are served from them.
func (s *Store) StartWatchCache(prefixes []string) error {
	for _, p := range prefixes {
		if _, err := s.hubFor(p); err != nil {
			return err
		}
	}
	return nil
}

func (h *hub) run(rev int64) {
	wch := h.s.cli.Watch(clientv3.WithRequireLeader(h.s.ctx), h.prefix, clientv3.WithPrefix(),
		clientv3.WithRev(rev+1), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	for resp := range wch {
		if resp.CompactRevision != 0 || resp.Err() != nil {
			break
		}
		if resp.IsProgressNotify() {
			h.publish(Event{Type: watch.Bookmark, Revision: resp.Header.Revision})
			continue
		}
		for _, ev := range resp.Events {
			e, err := h.s.event(ev)
			if err != nil {
				h.s.log.Warn("watch cache: undecodable event, restarting", "key", string(ev.Kv.Key), "err", err)
				h.stop()
				return
			}
			h.publish(e)
		}
	}
	h.stop()
}

// publish appends e to the backlog and hands it to every watcher; a
// watcher that cannot take it is dropped.
func (h *hub) publish(e Event) {
	e.memo = &memo{}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.Type != watch.Bookmark {
		if len(h.backlog) == hubBacklog {
			h.oldest = h.backlog[0].Revision
			copy(h.backlog, h.backlog[1:])
			h.backlog = h.backlog[:hubBacklog-1]
		}
		h.backlog = append(h.backlog, e)
	}
	for w := range h.watchers {
		if e.Revision <= w.after || (e.Type != watch.Bookmark && !strings.HasPrefix(objectKey(e), w.prefix)) {
			continue
		}
		select {
		case w.ch <- e:
		default:
			delete(h.watchers, w)
			close(w.ch)
		}
	}
}

// stop ends every watcher and forgets the hub; the next watch starts a new one.
func (h *hub) stop() {
	h.s.hubsMu.Lock()
	if h.s.hubs[h.prefix] == h {
		delete(h.s.hubs, h.prefix)
	}
	h.s.hubsMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for w := range h.watchers {
		close(w.ch)
	}
	h.watchers = nil
}

// subscribe registers a watcher of prefix for events after rev. It reports
// false when rev is older than the backlog (the caller then watches etcd
// directly, which also reports compaction).
func (h *hub) subscribe(prefix string, rev int64) (*hubWatcher, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done || rev < h.oldest {
		return nil, false
	}
	w := &hubWatcher{prefix: prefix, after: rev, ch: make(chan Event, watcherBuffer)}
	for _, e := range h.backlog {
		if e.Revision > rev && strings.HasPrefix(objectKey(e), prefix) {
			w.ch <- e
		}
	}
	h.watchers[w] = struct{}{}
	return w, true
}

func (h *hub) unsubscribe(w *hubWatcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.watchers[w]; ok {
		delete(h.watchers, w)
		close(w.ch)
	}
}

// objectKey is the etcd key an event's object lives at.
func objectKey(e Event) string { return e.key }
