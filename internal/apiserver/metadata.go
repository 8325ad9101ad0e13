package apiserver

import (
	"crypto/rand"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// shape records where a Go API type keeps its status and which top-level
// fields are "the rest" (spec, data, ...), so the generic metadata rules
// need reflection only once per type.
type shape struct {
	status  int   // field index of Status, -1 if none
	hasSpec bool  // upstream tracks generation only for kinds with a spec
	rest    []int // fields other than TypeMeta, ObjectMeta and Status
}

var shapes sync.Map // reflect.Type -> *shape

func shapeOf(obj runtime.Object) *shape {
	t := reflect.TypeOf(obj).Elem()
	if sh, ok := shapes.Load(t); ok {
		return sh.(*shape)
	}
	sh := &shape{status: -1}
	for i := 0; i < t.NumField(); i++ {
		switch f := t.Field(i); f.Name {
		case "TypeMeta", "ObjectMeta":
		case "Status":
			sh.status = i
		default:
			if f.Name == "Spec" {
				sh.hasSpec = true
			}
			sh.rest = append(sh.rest, i)
		}
	}
	shapes.Store(t, sh)
	return sh
}

// copyStatus sets dst's status to src's (both of one Go type).
func copyStatus(dst, src runtime.Object) {
	sh := shapeOf(dst)
	if sh.status < 0 {
		return
	}
	reflect.ValueOf(dst).Elem().Field(sh.status).Set(reflect.ValueOf(src).Elem().Field(sh.status))
}

// restEqual reports whether a and b agree outside metadata and status: the
// change that bumps metadata.generation.
func restEqual(a, b runtime.Object) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for _, i := range shapeOf(a).rest {
		if !equality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}

func metaOf(obj runtime.Object) metav1.Object {
	acc, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("%T has no ObjectMeta: %v", obj, err))
	}
	return acc
}

// newUID returns a random RFC 4122 version 4 UUID.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// generateNameSuffix is upstream's: five characters without vowels and
// look-alikes, so generated names never spell words.
func generateNameSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// managerName is the field manager of a write: the fieldManager parameter,
// or the User-Agent's product as upstream derives it.
func managerName(param, userAgent string) string {
	if param != "" {
		return param
	}
	m, _, _ := strings.Cut(userAgent, "/")
	if len(m) > 128 {
		m = m[:128]
	}
	if m == "" {
		m = "unknown"
	}
	return m
}

// typeConverter knows the schema of every built-in type, for managed
// fields. Parsing it takes about 200 ms, so it happens once, off the
// request path when Preload is called early.
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(scheme.Scheme)
})

// Preload prepares, in the background, what the first write would
// otherwise wait for. Call it before starting storage.
func Preload() { go typeConverter() }

// fieldManagers builds one managedfields.FieldManager per kind and
// subresource on first use.
type fieldManagers struct {
	mu sync.Mutex
	m  map[string]*managedfields.FieldManager
}

type kindDefaulter struct{ k *kinds.Kind }

func (d kindDefaulter) Default(obj runtime.Object) {
	if d.k.Default != nil && reflect.TypeOf(obj) == reflect.TypeOf(d.k.New()) {
		d.k.Default(obj)
	}
}

func (f *fieldManagers) get(k *kinds.Kind, sub string) (*managedfields.FieldManager, error) {
	tc := typeConverter()
	key := k.GVK.String() + "/" + sub
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.m[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(tc, scheme.Scheme, kindDefaulter{k}, scheme.Scheme,
		k.GVK, k.GVK.GroupVersion(), sub, nil)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", k.GVK, err)
	}
	if f.m == nil {
		f.m = map[string]*managedfields.FieldManager{}
	}
	f.m[key] = fm
	return fm, nil
}
