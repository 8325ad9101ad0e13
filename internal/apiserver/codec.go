package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

var codecs = serializer.NewCodecFactory(scheme.Scheme)

// maxBody caps request bodies as upstream does (3 MiB objects plus slack).
const maxBody = 6 << 20

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if len(data) > maxBody {
		return nil, apierrors.NewRequestEntityTooLargeError("limit is 6291456")
	}
	return data, nil
}

// fieldValidation is the request's fieldValidation mode.
type fieldValidation string

const (
	validationStrict fieldValidation = "Strict"
	validationWarn   fieldValidation = "Warn"
	validationIgnore fieldValidation = "Ignore"
)

func parseFieldValidation(q map[string][]string) (fieldValidation, error) {
	v := ""
	if vs := q["fieldValidation"]; len(vs) > 0 {
		v = vs[0]
	}
	switch fieldValidation(v) {
	case "":
		return validationWarn, nil
	case validationStrict, validationWarn, validationIgnore:
		return fieldValidation(v), nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict; got %q", v))
}

// decodeBody decodes a JSON, YAML or protobuf body into a new object of
// kind k (or into, when set). Unknown and duplicate fields are an error
// under Strict and a warning under Warn, as upstream.
func decodeBody(w http.ResponseWriter, r *http.Request, data []byte, gvk schema.GroupVersionKind, into runtime.Object, fv fieldValidation) (runtime.Object, error) {
	mt := r.Header.Get("Content-Type")
	if mt == "" {
		mt = "application/json"
	}
	mt, _, err := mime.ParseMediaType(mt)
	if err != nil {
		return nil, unsupportedMediaType(r.Header.Get("Content-Type"))
	}
	return decodeAs(w, mt, data, gvk, into, fv)
}

func decodeAs(w http.ResponseWriter, mediaType string, data []byte, gvk schema.GroupVersionKind, into runtime.Object, fv fieldValidation) (runtime.Object, error) {
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		return nil, unsupportedMediaType(mediaType)
	}
	dec := info.Serializer
	if fv != validationIgnore && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	obj, actual, err := dec.Decode(data, &gvk, into)
	if err != nil {
		if runtime.IsStrictDecodingError(err) && obj != nil {
			if fv == validationStrict {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
			}
			if se, ok := err.(interface{ Errors() []error }); ok && w != nil {
				for _, e := range se.Errors() {
					addWarning(w, e.Error())
				}
			}
		} else {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
		}
	}
	switch {
	case actual == nil || *actual == gvk:
	case actual.GroupVersion() != gvk.GroupVersion():
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion(), gvk.GroupVersion()))
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, gvk.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// addWarning adds an RFC 7234 Warning header as upstream's warning recorder does.
func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", "299 - "+strconv.Quote(msg))
}

// toServed converts a stored object to kind k's version and stamps its type.
func toServed(k *kinds.Kind, obj runtime.Object) (runtime.Object, error) {
	if k.FromStorage != nil {
		var err error
		if obj, err = k.FromStorage(obj); err != nil {
			return nil, fmt.Errorf("convert to %s: %w", k.GVK, err)
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(k.GVK)
	return obj, nil
}

// toStored converts a served object to k's storage version.
func toStored(k *kinds.Kind, obj runtime.Object) (runtime.Object, error) {
	if k.ToStorage != nil {
		var err error
		if obj, err = k.ToStorage(obj); err != nil {
			return nil, fmt.Errorf("convert to %s: %w", k.Storage, err)
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(k.Storage)
	return obj, nil
}

// encodeJSON marshals an API object whose TypeMeta is set.
func encodeJSON(obj any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	return data, nil
}

func writeObject(w http.ResponseWriter, code int, obj any) {
	data, err := encodeJSON(obj)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// contentTypeIs reports whether r's body has media type mt.
func contentTypeIs(r *http.Request, mt string) bool {
	got, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.EqualFold(got, mt)
}
