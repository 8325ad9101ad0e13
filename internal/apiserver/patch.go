package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// patchFunc applies a patch document to an object's JSON.
type patchFunc func(cur []byte) ([]byte, error)

// patcher returns how to apply body for the request's Content-Type.
func patcher(rq *request, body []byte, dataStruct runtime.Object) (patchFunc, error) {
	switch {
	case contentTypeIs(rq.r, string(types.JSONPatchType)):
		p, err := jsonpatch.DecodePatch(body)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return func(cur []byte) ([]byte, error) {
			out, err := p.Apply(cur)
			if err != nil {
				return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
					Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid, Message: err.Error()}}
			}
			return out, nil
		}, nil
	case contentTypeIs(rq.r, string(types.MergePatchType)):
		if !json.Valid(body) {
			return nil, apierrors.NewBadRequest("invalid JSON in merge patch")
		}
		return func(cur []byte) ([]byte, error) {
			out, err := jsonpatch.MergePatch(cur, body)
			if err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			return out, nil
		}, nil
	case contentTypeIs(rq.r, string(types.StrategicMergePatchType)):
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON in strategic merge patch: %v", err))
		}
		return func(cur []byte) ([]byte, error) {
			out, err := strategicpatch.StrategicMergePatch(cur, body, dataStruct)
			if err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			return out, nil
		}, nil
	}
	return nil, unsupportedMediaType(rq.r.Header.Get("Content-Type"))
}

// patch handles PATCH on an object or its status: the four patch types
// kubectl sends, server-side apply included.
func (s *Server) patch(rq *request) error {
	dryRun, fv, body, err := writeRequest(rq)
	if err != nil {
		return err
	}
	k := rq.kind
	manager := managerName(rq.q.Get("fieldManager"), rq.r.UserAgent())
	var mutate func(cur runtime.Object) (runtime.Object, error)
	applied := contentTypeIs(rq.r, string(types.ApplyPatchType)) || contentTypeIs(rq.r, "application/apply-patch+json")
	if applied {
		if rq.q.Get("fieldManager") == "" {
			return apierrors.NewBadRequest("PatchOptions.fieldManager is required for apply requests")
		}
		mutate, err = s.applyMutation(rq, body, manager)
	} else {
		if rq.q.Get("force") != "" {
			return apierrors.NewBadRequest("force may only be set for apply patches")
		}
		var pf patchFunc
		if pf, err = patcher(rq, body, k.New()); err == nil {
			mutate = func(cur runtime.Object) (runtime.Object, error) {
				curJSON, err := encodeJSON(cur)
				if err != nil {
					return nil, err
				}
				out, err := pf(curJSON)
				if err != nil {
					return nil, err
				}
				return decodeAs(rq.w, "application/json", out, k.GVK, nil, fv)
			}
		}
	}
	if err != nil {
		return err
	}
	out, created, err := s.updateObject(rq, dryRun, manager, applied, mutate)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return s.respond(rq, code, out)
}

// applyMutation merges an apply configuration into the live object with
// the field manager, which owns conflict detection (409 unless force).
func (s *Server) applyMutation(rq *request, body []byte, manager string) (func(runtime.Object) (runtime.Object, error), error) {
	k := rq.kind
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	patchObj := &unstructured.Unstructured{}
	if err := json.Unmarshal(js, &patchObj.Object); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding apply configuration: %v", err))
	}
	if patchObj.GroupVersionKind() != k.GVK {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("apply configuration must be %s %s, got apiVersion %q kind %q",
			k.GVK.GroupVersion(), k.GVK.Kind, patchObj.GetAPIVersion(), patchObj.GetKind()))
	}
	if patchObj.GetName() != rq.name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", patchObj.GetName(), rq.name))
	}
	if ns := patchObj.GetNamespace(); ns != "" && k.Namespaced && ns != rq.namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	force := rq.q.Get("force") == "true"
	fm, err := s.fields.get(k, rq.sub)
	if err != nil {
		return nil, err
	}
	return func(cur runtime.Object) (runtime.Object, error) {
		live := cur
		if live == nil {
			live = k.New()
			live.GetObjectKind().SetGroupVersionKind(k.GVK)
		}
		out, err := fm.Apply(live, patchObj.DeepCopy(), manager, force)
		if err != nil {
			var status apierrors.APIStatus
			if errors.As(err, &status) {
				return nil, err // 409 conflicts
			}
			// The apply configuration does not fit the schema: the caller's mistake.
			return nil, apierrors.NewBadRequest(err.Error())
		}
		out.GetObjectKind().SetGroupVersionKind(k.GVK)
		return out, nil
	}, nil
}
