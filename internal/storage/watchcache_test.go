package storage

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/watch"
)

func ev(rev int64, key string) Event {
	return Event{Type: watch.Modified, Revision: rev, key: key}
}

func drain(ch <-chan Event) (revs []int64, closed bool) {
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return revs, true
			}
			revs = append(revs, e.Revision)
		default:
			return revs, false
		}
	}
}

func TestHubServesBacklogThenLive(t *testing.T) {
	h := &hub{prefix: "/registry/core/pods/", oldest: 10, watchers: map[*hubWatcher]struct{}{}}
	h.publish(ev(11, "/registry/core/pods/a/x"))
	h.publish(ev(12, "/registry/core/pods/b/y"))
	h.publish(ev(13, "/registry/core/pods/a/z"))

	if _, ok := h.subscribe("/registry/core/pods/", 9); ok {
		t.Error("a watch older than the backlog was accepted")
	}
	all, ok := h.subscribe("/registry/core/pods/", 11)
	if !ok {
		t.Fatal("watch from 11 refused")
	}
	nsA, _ := h.subscribe("/registry/core/pods/a/", 10)
	h.publish(ev(14, "/registry/core/pods/a/x"))
	h.publish(Event{Type: watch.Bookmark, Revision: 15})
	h.publish(ev(16, "/registry/core/pods/b/y"))

	if got, _ := drain(all.ch); !slices.Equal(got, []int64{12, 13, 14, 15, 16}) {
		t.Errorf("all namespaces got %v", got)
	}
	if got, _ := drain(nsA.ch); !slices.Equal(got, []int64{11, 13, 14, 15}) {
		t.Errorf("namespace a got %v", got)
	}
	h.unsubscribe(nsA)
	if _, closed := drain(nsA.ch); !closed {
		t.Error("unsubscribed watcher's channel is open")
	}
}

func TestHubDropsSlowWatchersAndTrimsBacklog(t *testing.T) {
	h := &hub{prefix: "/registry/core/pods/", oldest: 0, watchers: map[*hubWatcher]struct{}{}}
	slow, _ := h.subscribe("/registry/core/pods/", 0)
	for i := int64(1); i <= watcherBuffer+1; i++ {
		h.publish(ev(i, "/registry/core/pods/a/x"))
	}
	got, closed := drain(slow.ch)
	if !closed || len(got) != watcherBuffer {
		t.Errorf("slow watcher: %d events, closed=%v; want %d then closed", len(got), closed, watcherBuffer)
	}
	if len(h.backlog) != hubBacklog || h.oldest != watcherBuffer+1-hubBacklog {
		t.Errorf("backlog %d events after %d, want %d after %d", len(h.backlog), h.oldest, hubBacklog, watcherBuffer+1-hubBacklog)
	}
	if _, ok := h.subscribe("/registry/core/pods/", h.oldest-1); ok {
		t.Error("watch from before the trimmed backlog accepted")
	}
}

func TestResourcePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"/registry/core/pods/":           "/registry/core/pods/",
		"/registry/core/pods/default/":   "/registry/core/pods/",
		"/registry/apps/deployments/x/y": "/registry/apps/deployments/",
		"/other/x/y/z":                   "",
	} {
		if got, _ := resourcePrefix(in); got != want {
			t.Errorf("resourcePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventMemo(t *testing.T) {
	calls := 0
	f := func() ([]byte, error) { calls++; return []byte("x"), nil }
	h := &hub{prefix: "/registry/core/pods/", watchers: map[*hubWatcher]struct{}{}}
	a, _ := h.subscribe("/registry/core/pods/", 0)
	b, _ := h.subscribe("/registry/core/pods/", 0)
	h.publish(ev(1, "/registry/core/pods/a/x"))
	ea, eb := <-a.ch, <-b.ch
	for _, e := range []Event{ea, eb, ea} {
		if v, err := e.Memo("json", f); err != nil || string(v) != "x" {
			t.Fatalf("Memo = %q, %v", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("a hub's event computed %d times for its watchers, want once", calls)
	}
	unshared := ev(2, "k")
	unshared.Memo("json", f)
	unshared.Memo("json", f)
	if calls != 3 {
		t.Errorf("an unshared event: %d computations, want one per call", calls-1)
	}
}
