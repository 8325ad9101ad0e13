package apiserver

import (
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestDecodeFieldValidation(t *testing.T) {
	gvk := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	unknown := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"},"spec":{"foo":1}}`
	dup := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"}}`
	tests := []struct {
		name, body string
		mode       fieldValidation
		wantErr    string // substring of a 400; "" for success
		warning    string // substring of a Warning header
	}{
		{"strict unknown", unknown, validationStrict, `ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "spec"`, ""},
		{"strict duplicate", dup, validationStrict, `duplicate field "metadata.name"`, ""},
		{"warn unknown", unknown, validationWarn, "", `unknown field \"spec\"`},
		{"ignore unknown", unknown, validationIgnore, "", ""},
		{"other kind", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}`, validationStrict, "the kind in the data (Secret) does not match the expected kind (ConfigMap)", ""},
		{"other version", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"a"}}`, validationStrict, "cannot be handled", ""},
		{"not JSON", `{`, validationStrict, "cannot be handled as a ConfigMap", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			obj, err := decodeAs(w, "application/json", []byte(tc.body), gvk, nil, tc.mode)
			if tc.wantErr != "" {
				if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a 400 with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cm, ok := obj.(*corev1.ConfigMap)
			if !ok || cm.Name != "a" || cm.Data["k"] != "v" || cm.Kind != "ConfigMap" {
				t.Errorf("decoded %#v", obj)
			}
			got := strings.Join(w.Header().Values("Warning"), "\n")
			if (tc.warning == "") != (got == "") || !strings.Contains(got, tc.warning) {
				t.Errorf("Warning headers %q, want %q", got, tc.warning)
			}
		})
	}
}

func TestDecodeYAMLAndProtobuf(t *testing.T) {
	gvk := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	obj, err := decodeAs(nil, "application/yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"), gvk, nil, validationStrict)
	if err != nil || obj.(*corev1.ConfigMap).Name != "cfg" {
		t.Fatalf("yaml: %v %v", obj, err)
	}
	var buf strings.Builder
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), "application/vnd.kubernetes.protobuf")
	cm := &corev1.ConfigMap{Data: map[string]string{"p": "b"}}
	cm.Name = "p"
	cm.SetGroupVersionKind(gvk)
	if err := info.Serializer.Encode(cm, &buf); err != nil {
		t.Fatal(err)
	}
	obj, err = decodeAs(nil, "application/vnd.kubernetes.protobuf", []byte(buf.String()), gvk, nil, validationStrict)
	if err != nil || obj.(*corev1.ConfigMap).Data["p"] != "b" {
		t.Fatalf("protobuf: %v %v", obj, err)
	}
	if _, err := decodeAs(nil, "text/plain", []byte("x"), gvk, nil, validationStrict); err == nil {
		t.Error("text/plain accepted")
	}
}
