package apiserver

import (
	"net/http"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth-dev/berth/internal/rbac"
)

// ssarPath is where `kubectl auth can-i` asks.
const ssarPath = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

var ssarGVK = authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview")

// serveSelfSubjectAccessReview answers whether the caller may do what the
// review describes, decided as its own requests would be.
func (s *Server) serveSelfSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	if u == nil {
		writeError(w, errUnauthorized())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := decodeBody(w, r, body, ssarGVK, &authorizationv1.SelfSubjectAccessReview{}, validationStrict)
	if err != nil {
		writeError(w, err)
		return
	}
	review := obj.(*authorizationv1.SelfSubjectAccessReview)
	a := &rbac.Request{User: u.Name, Groups: u.Groups}
	switch ra, na := review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes; {
	case ra != nil && na == nil:
		a.Verb, a.APIGroup, a.Resource, a.Subresource, a.Namespace, a.Name = ra.Verb, ra.Group, ra.Resource, ra.Subresource, ra.Namespace, ra.Name
	case na != nil && ra == nil:
		a.Verb, a.NonResourceURL = na.Verb, na.Path
	default:
		writeError(w, apierrors.NewInvalid(ssarGVK.GroupKind(), "", field.ErrorList{field.Invalid(field.NewPath("spec"), review.Spec,
			"exactly one of nonResourceAttributes or resourceAttributes must be specified")}))
		return
	}
	ok, err := allowed(r.Context(), u, a, s.cfg.RBAC)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	review.TypeMeta = metav1.TypeMeta{Kind: ssarGVK.Kind, APIVersion: ssarGVK.GroupVersion().String()}
	review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: ok}
	writeObject(w, http.StatusCreated, review)
}
