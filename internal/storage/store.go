// Package storage keeps API objects in etcd the way upstream's etcd3 store
// does: one key per object under /registry/<group>/<resource>/[<ns>/]<name>,
// the object's resourceVersion is the key's etcd mod revision, lists run at
// one consistent revision, and watches are etcd watches from a revision.
package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

// Errors the store returns; the API server maps them to Status errors with
// the resource and name the caller used.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict is returned by Delete when a precondition's revision moved.
	ErrConflict = errors.New("conflict")
)

// ExpiredError is a watch or list from a revision etcd has compacted away.
type ExpiredError struct{ Requested, Compacted int64 }

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("too old resource version: %d (%d)", e.Requested, e.Compacted)
}

// InvalidContinueError is a continue token the store cannot read.
type InvalidContinueError struct{ Reason string }

func (e *InvalidContinueError) Error() string { return "continue key is not valid: " + e.Reason }

// Store is the etcd-backed object store.
type Store struct {
	cli   *clientv3.Client
	codec *protobuf.Serializer
	log   *slog.Logger
	ctx   context.Context // for the watch cache, which outlives requests

	hubsMu sync.Mutex
	hubs   map[string]*hub // by resource prefix
}

// New returns a Store over cli. Objects are kept as upstream keeps them:
// protobuf with the "k8s\x00" magic prefix and a TypeMeta envelope.
func New(cli *clientv3.Client, log *slog.Logger) *Store {
	return &Store{cli: cli, codec: protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), log: log, ctx: context.Background()}
}

// Key is the etcd key of one object; name "" gives the prefix of a
// namespace's (or, with ns "" as well, all) objects of the resource.
func Key(group, resource, ns, name string) string {
	if group == "" {
		group = "core"
	}
	var b strings.Builder
	b.Grow(len(group) + len(resource) + len(ns) + len(name) + 14)
	b.WriteString("/registry/")
	b.WriteString(group)
	b.WriteByte('/')
	b.WriteString(resource)
	b.WriteByte('/')
	if ns != "" {
		b.WriteString(ns)
		b.WriteByte('/')
	}
	b.WriteString(name)
	return b.String()
}

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	// The revision is the key's; it is never part of the stored bytes.
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	var buf bytes.Buffer
	err = s.codec.Encode(obj, &buf)
	acc.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	return buf.Bytes(), nil
}

func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj, _, err := s.codec.Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decode stored object: %w", err)
	}
	setRV(obj, rev)
	return obj, nil
}

func setRV(obj runtime.Object, rev int64) {
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
}

// Create stores obj at key if the key is absent and returns it with its
// resourceVersion set.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data))).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return nil, ErrExists
	}
	setRV(obj, resp.Header.Revision)
	return obj, nil
}

// Get returns the object at key.
func (s *Store) Get(ctx context.Context, key string) (runtime.Object, error) {
	return s.get(ctx, key)
}

// GetCached returns the object at key from the local etcd member without
// a quorum round (a serializable read): it may lag a write made through
// another member, as an informer cache may. For checks that upstream
// answers from caches (admission's namespace and quota lookups).
func (s *Store) GetCached(ctx context.Context, key string) (runtime.Object, error) {
	return s.get(ctx, key, clientv3.WithSerializable())
}

func (s *Store) get(ctx context.Context, key string, opts ...clientv3.OpOption) (runtime.Object, error) {
	resp, err := s.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	return s.decode(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

// CurrentRevision is etcd's current revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, "/registry/~revision", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// UpdateFunc returns the new object for cur (nil when the key is absent
// and the update may create it). Returning cur's exact bytes writes nothing.
type UpdateFunc func(cur runtime.Object) (runtime.Object, error)

// GuaranteedUpdate reads key, applies tryUpdate and writes the result if
// the key did not change meanwhile, retrying otherwise; errors from
// tryUpdate (a resourceVersion precondition, validation) end it. With
// allowCreate an absent key reaches tryUpdate as nil.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, allowCreate bool, tryUpdate UpdateFunc) (runtime.Object, error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	for {
		var cur runtime.Object
		var curData []byte
		var modRev int64
		if len(resp.Kvs) > 0 {
			curData, modRev = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
			if cur, err = s.decode(curData, modRev); err != nil {
				return nil, err
			}
		} else if !allowCreate {
			return nil, ErrNotFound
		}
		next, err := tryUpdate(cur)
		if err != nil {
			return nil, err
		}
		data, err := s.encode(next)
		if err != nil {
			return nil, err
		}
		if cur != nil && bytes.Equal(data, curData) {
			setRV(next, modRev)
			return next, nil
		}
		txn, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, string(data))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		if txn.Succeeded {
			setRV(next, txn.Header.Revision)
			return next, nil
		}
		resp = (*clientv3.GetResponse)(txn.Responses[0].GetResponseRange())
	}
}

// Delete removes key after check (if not nil) accepts the current object,
// retrying when the object changes in between. It returns the deleted
// object with the deletion's revision.
func (s *Store) Delete(ctx context.Context, key string, check func(cur runtime.Object) error) (runtime.Object, error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	for {
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		kv := resp.Kvs[0]
		cur, err := s.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(cur); err != nil {
				return nil, err
			}
		}
		txn, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, err)
		}
		if txn.Succeeded {
			setRV(cur, txn.Header.Revision)
			return cur, nil
		}
		resp = (*clientv3.GetResponse)(txn.Responses[0].GetResponseRange())
	}
}

// ListOptions select a page of a list.
type ListOptions struct {
	// Revision lists at that revision (0: the latest).
	Revision int64
	// Limit caps the items returned (0: all); Continue resumes a previous page.
	Limit    int64
	Continue string
	// Filter keeps an object when it returns true (nil keeps all).
	Filter func(runtime.Object) bool
	// Cached reads from the local member without a quorum round (see GetCached).
	Cached bool
}

// ListResult is one page.
type ListResult struct {
	Items    []runtime.Object
	Revision int64
	// Continue is set when more items may follow.
	Continue string
	// Remaining counts the keys after this page (only without a Filter).
	Remaining *int64
}

type continueToken struct {
	Rev   int64  `json:"rv"`
	Start string `json:"start"`
}

// List returns the objects under prefix at one revision.
func (s *Store) List(ctx context.Context, prefix string, o ListOptions) (*ListResult, error) {
	start, rev := prefix, o.Revision
	if o.Continue != "" {
		var err error
		if start, rev, err = parseContinue(prefix, o.Continue); err != nil {
			return nil, err
		}
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	res := &ListResult{Revision: rev}
	pageSize := o.Limit
	if o.Filter != nil && pageSize > 0 && pageSize < 100 {
		pageSize = 100 // filtering: read ahead rather than one round trip per item
	}
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end)}
		if o.Cached {
			opts = append(opts, clientv3.WithSerializable())
		}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		if pageSize > 0 {
			opts = append(opts, clientv3.WithLimit(pageSize))
		}
		resp, err := s.cli.Get(ctx, start, opts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, &ExpiredError{Requested: rev}
			}
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
			res.Revision = rev
		}
		for i, kv := range resp.Kvs {
			obj, err := s.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if o.Filter != nil && !o.Filter(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if o.Limit > 0 && int64(len(res.Items)) == o.Limit {
				if i < len(resp.Kvs)-1 || resp.More {
					res.Continue = encodeContinue(rev, string(kv.Key)+"\x00")
					if o.Filter == nil {
						n := resp.Count - int64(i) - 1
						res.Remaining = &n
					}
				}
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return res, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// parseContinue reads a continue token made for a list under prefix (a
// token from another namespace's list cannot page through this one).
func parseContinue(prefix, token string) (start string, rev int64, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	var tok continueToken
	if err == nil {
		err = json.Unmarshal(raw, &tok)
	}
	if err != nil || tok.Rev <= 0 || !strings.HasPrefix(tok.Start, prefix) {
		return "", 0, &InvalidContinueError{Reason: "malformed token"}
	}
	return tok.Start, tok.Rev, nil
}

func encodeContinue(rev int64, start string) string {
	b, _ := json.Marshal(continueToken{Rev: rev, Start: start})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Event is one change under a watched prefix. Bookmark events carry only
// Revision; an error ends the stream (Err is an *ExpiredError when the
// start revision was compacted).
//
// Events may be shared between watchers: receivers must copy an object
// before changing it.
type Event struct {
	Type     watch.EventType
	Object   runtime.Object
	Prev     runtime.Object // the object before a MODIFIED or DELETED
	Revision int64
	Err      error
	key      string
	memo     *memo // shared by every watcher of a hub's event
}

// memo keeps values derived from one shared event (its JSON encoding), so
// that its watchers compute them once.
type memo struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Memo returns the value named name derived from the event, computing it
// with f on first use. Events not shared by a hub compute it every time.
func (e *Event) Memo(name string, f func() ([]byte, error)) ([]byte, error) {
	if e.memo == nil {
		return f()
	}
	e.memo.mu.Lock()
	defer e.memo.mu.Unlock()
	if v, ok := e.memo.m[name]; ok {
		return v, nil
	}
	v, err := f()
	if err != nil {
		return nil, err
	}
	if e.memo.m == nil {
		e.memo.m = map[string][]byte{}
	}
	e.memo.m[name] = v
	return v, nil
}

// Watch streams the changes under prefix after revision rev until ctx ends.
// etcd's progress notifications arrive as watch.Bookmark events. The
// channel closes when the watch ends (the caller then resumes from the
// last revision it saw, as clients do).
//
// Watches are served by the resource's hub (one etcd watch for all
// watchers) when rev is recent enough, else by an etcd watch of their own.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan Event {
	if rp, ok := resourcePrefix(prefix); ok {
		if h, err := s.hubFor(rp); err == nil {
			if w, ok := h.subscribe(prefix, rev); ok {
				go func() {
					<-ctx.Done()
					h.unsubscribe(w)
				}()
				return w.ch
			}
		}
	}
	return s.watchEtcd(ctx, prefix, rev)
}

func (s *Store) watchEtcd(ctx context.Context, prefix string, rev int64) <-chan Event {
	out := make(chan Event, 100)
	wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	go func() {
		defer close(out)
		send := func(e Event) bool {
			select {
			case out <- e:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if resp.CompactRevision != 0 {
				send(Event{Err: &ExpiredError{Requested: rev, Compacted: resp.CompactRevision}})
				return
			}
			if err := resp.Err(); err != nil {
				send(Event{Err: fmt.Errorf("watch %s: %w", prefix, err)})
				return
			}
			if resp.IsProgressNotify() {
				if !send(Event{Type: watch.Bookmark, Revision: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, ev := range resp.Events {
				e, err := s.event(ev)
				if err != nil {
					e = Event{Err: err}
				}
				if !send(e) || err != nil {
					return
				}
			}
		}
	}()
	return out
}

func (s *Store) event(ev *clientv3.Event) (Event, error) {
	e := Event{Revision: ev.Kv.ModRevision, key: string(ev.Kv.Key)}
	var err error
	if ev.PrevKv != nil {
		if e.Prev, err = s.decode(ev.PrevKv.Value, ev.PrevKv.ModRevision); err != nil {
			return e, err
		}
	}
	switch {
	case ev.Type == clientv3.EventTypeDelete:
		if e.Prev == nil {
			return e, fmt.Errorf("watch: delete of %s without its previous value", ev.Kv.Key)
		}
		e.Type = watch.Deleted
		// Upstream's DELETED carries the last state at the deletion's revision.
		e.Object = e.Prev.DeepCopyObject()
		setRV(e.Object, ev.Kv.ModRevision)
		return e, nil
	case ev.IsCreate():
		e.Type = watch.Added
	default:
		e.Type = watch.Modified
	}
	e.Object, err = s.decode(ev.Kv.Value, ev.Kv.ModRevision)
	return e, err
}

// RunCompactor compacts etcd history older than about five minutes (as
// upstream's API server does) until ctx ends: each tick compacts to the
// revision seen on the previous tick.
func (s *Store) RunCompactor(ctx context.Context) error {
	const interval = 5 * time.Minute
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rev, err := s.CurrentRevision(ctx)
		if err != nil {
			s.log.Warn("compaction: read revision", "err", err)
			continue
		}
		if last > 0 {
			if _, err := s.cli.Compact(ctx, last); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
				s.log.Warn("compaction", "rev", last, "err", err)
			}
		}
		last = rev
	}
}
