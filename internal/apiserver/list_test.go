package apiserver

import (
	"net/http/httptest"
	"net/url"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/storage"
)

func podKind() *kinds.Kind {
	return kinds.Lookup(corev1.SchemeGroupVersion.WithResource("pods"))
}

func pod(name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}, Spec: corev1.PodSpec{NodeName: node}}
}

func TestFilterEvent(t *testing.T) {
	k := podKind()
	rq := &request{kind: k, verb: "watch", q: url.Values{"fieldSelector": {"spec.nodeName=n1"}}}
	p, err := parsePredicate(rq)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ev        storage.Event
		wantType  watch.EventType
		delivered bool
	}{
		{"added matching", storage.Event{Type: watch.Added, Object: pod("a", "n1", nil)}, watch.Added, true},
		{"added elsewhere", storage.Event{Type: watch.Added, Object: pod("a", "n2", nil)}, "", false},
		{"bound to the node: starts matching", storage.Event{Type: watch.Modified, Object: pod("a", "n1", nil), Prev: pod("a", "", nil)}, watch.Added, true},
		{"still matching", storage.Event{Type: watch.Modified, Object: pod("a", "n1", map[string]string{"x": "y"}), Prev: pod("a", "n1", nil)}, watch.Modified, true},
		{"stops matching", storage.Event{Type: watch.Modified, Object: pod("a", "n2", nil), Prev: pod("a", "n1", nil)}, watch.Deleted, true},
		{"deleted matching", storage.Event{Type: watch.Deleted, Object: pod("a", "n1", nil), Prev: pod("a", "n1", nil)}, watch.Deleted, true},
		{"deleted elsewhere", storage.Event{Type: watch.Deleted, Object: pod("a", "n2", nil), Prev: pod("a", "n2", nil)}, "", false},
	}
	for _, tc := range tests {
		typ, _, ok := filterEvent(k, p, tc.ev)
		if ok != tc.delivered || (ok && typ != tc.wantType) {
			t.Errorf("%s: got %q delivered=%v, want %q %v", tc.name, typ, ok, tc.wantType, tc.delivered)
		}
	}
}

func TestParsePredicate(t *testing.T) {
	k := podKind()
	tests := []struct {
		query   url.Values
		obj     runtime.Object
		match   bool
		wantErr bool
	}{
		{url.Values{"labelSelector": {"app=web"}}, pod("a", "", map[string]string{"app": "web"}), true, false},
		{url.Values{"labelSelector": {"app=web"}}, pod("a", "", map[string]string{"app": "db"}), false, false},
		{url.Values{"labelSelector": {"app in (web,db)"}}, pod("a", "", map[string]string{"app": "db"}), true, false},
		{url.Values{"fieldSelector": {"metadata.name=a"}}, pod("a", "", nil), true, false},
		{url.Values{"fieldSelector": {"metadata.name!=a"}}, pod("a", "", nil), false, false},
		{url.Values{"fieldSelector": {"spec.nodeName="}}, pod("a", "", nil), true, false},
		{url.Values{"fieldSelector": {"spec.bogus=1"}}, nil, false, true},
		{url.Values{"labelSelector": {"a=(b"}}, nil, false, true},
	}
	for _, tc := range tests {
		p, err := parsePredicate(&request{kind: k, verb: "list", q: tc.query})
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err = %v, want error %v", tc.query, err, tc.wantErr)
			continue
		}
		if err == nil && p.matches(tc.obj) != tc.match {
			t.Errorf("%v: matches = %v, want %v", tc.query, !tc.match, tc.match)
		}
	}
}

func TestTableRows(t *testing.T) {
	k := podKind()
	s := &Server{}
	rq := &request{kind: k, q: url.Values{}, r: httptest.NewRequest("GET", "/api/v1/pods", nil)}
	tbl, err := s.table(rq, []runtime.Object{pod("a", "n1", nil)}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Kind != "Table" || len(tbl.Rows) != 1 || len(tbl.Rows[0].Cells) != len(tbl.ColumnDefinitions) {
		t.Fatalf("table %+v", tbl)
	}
	if tbl.Rows[0].Cells[0] != "a" || len(tbl.Rows[0].Object.Raw) == 0 {
		t.Errorf("row %+v: want name a and PartialObjectMetadata", tbl.Rows[0])
	}
	rq.q.Set("includeObject", "Bogus")
	if _, err := s.table(rq, nil, "v1"); err == nil {
		t.Error("includeObject=Bogus accepted")
	}
}
