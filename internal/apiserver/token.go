package apiserver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/storage"
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// Token lifetimes, as upstream's TokenRequest REST storage.
const (
	defaultTokenSeconds = 3600
	minTokenSeconds     = 600
)

type userKey struct{}

// authenticate returns r's caller: a verified client certificate, else a
// service account token whose account (and bound pod) still exist with the
// uids it was issued for; nil when neither.
func (s *Server) authenticate(r *http.Request) *auth.User {
	if u := auth.Authenticate(r); u != nil {
		return u
	}
	tok := auth.BearerToken(r.Header)
	if tok == "" || s.cfg.ServiceAccountTokens == nil || s.cfg.Store == nil {
		return nil
	}
	now := time.Now()
	c := s.verified.get(tok, now)
	if c == nil {
		var err error
		if c, err = s.cfg.ServiceAccountTokens.Verify(tok, []string{auth.Issuer}, now); err != nil {
			s.cfg.Log.Debug("bearer token rejected", "err", err)
			return nil
		}
		s.verified.put(tok, c, now)
	}
	ns := c.Kubernetes.Namespace
	if !s.objectHasUID(r.Context(), "serviceaccounts", ns, c.Kubernetes.ServiceAccount) {
		return nil
	}
	if p := c.Kubernetes.Pod; p != nil && !s.objectHasUID(r.Context(), "pods", ns, *p) {
		return nil
	}
	return c.User()
}

// verifiedTokenTTL is how long a token's checked signature is trusted
// without checking again, as upstream's cached token authenticator (10 s).
// The account and pod are still looked up on every request.
const (
	verifiedTokenTTL   = 10 * time.Second
	verifiedTokenPrune = 1024
)

// verifiedTokens remembers tokens whose signature and claims checked out,
// so a client's stream of requests pays the ECDSA verification once.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	claims *auth.TokenClaims
	until  time.Time
}

func (v *verifiedTokens) get(tok string, now time.Time) *auth.TokenClaims {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.m[tok]; ok && now.Before(e.until) {
		return e.claims
	}
	return nil
}

func (v *verifiedTokens) put(tok string, c *auth.TokenClaims, now time.Time) {
	until := now.Add(verifiedTokenTTL)
	if exp := time.Unix(c.Expiry, 0); exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]verifiedToken{}
	}
	if len(v.m) >= verifiedTokenPrune {
		for k, e := range v.m {
			if !now.Before(e.until) {
				delete(v.m, k)
			}
		}
	}
	if len(v.m) < 2*verifiedTokenPrune {
		v.m[tok] = verifiedToken{claims: c, until: until}
	}
}

// objectHasUID reads from the local member, as upstream's authenticator
// reads from informer caches: every request with a token pays this.
func (s *Server) objectHasUID(ctx context.Context, resource, ns string, ref auth.ObjectRef) bool {
	obj, err := s.cfg.Store.GetCached(ctx, storage.Key("", resource, ns, ref.Name))
	return err == nil && string(metaOf(obj).GetUID()) == ref.UID
}

func userFrom(ctx context.Context) *auth.User {
	u, _ := ctx.Value(userKey{}).(*auth.User)
	return u
}

// serveToken answers POST serviceaccounts/NAME/token with a signed token
// for the service account, optionally bound to a pod (upstream's
// TokenRequest). A node may only ask for tokens bound to its own pods.
func (s *Server) serveToken(rq *request) error {
	if rq.verb != "create" {
		return apierrors.NewMethodNotSupported(gr(rq.kind), rq.r.Method)
	}
	if s.cfg.ServiceAccountTokens == nil {
		return apierrors.NewServiceUnavailable("service account token signing is not configured")
	}
	body, err := readBody(rq.r)
	if err != nil {
		return err
	}
	obj, err := decodeBody(rq.w, rq.r, body, tokenRequestGVK, &authenticationv1.TokenRequest{}, validationStrict)
	if err != nil {
		return err
	}
	tr := obj.(*authenticationv1.TokenRequest)
	ctx := rq.r.Context()
	saObj, err := s.cfg.Store.Get(ctx, s.key(rq.kind, rq.namespace, rq.name))
	if err != nil {
		return err
	}
	sa := saObj.(*corev1.ServiceAccount)
	seconds := int64(defaultTokenSeconds)
	if tr.Spec.ExpirationSeconds != nil {
		seconds = *tr.Spec.ExpirationSeconds
	}
	if seconds < minTokenSeconds || seconds > math.MaxUint32 {
		return apierrors.NewInvalid(tokenRequestGVK.GroupKind(), rq.name, field.ErrorList{field.Invalid(field.NewPath("spec", "expirationSeconds"), seconds,
			fmt.Sprintf("may not specify a duration less than %d seconds or longer than %d seconds", minTokenSeconds, math.MaxUint32))})
	}
	auds := tr.Spec.Audiences
	if len(auds) == 0 {
		auds = []string{auth.Issuer}
	}
	pod, err := s.boundPod(ctx, rq, tr.Spec.BoundObjectRef)
	if err != nil {
		return err
	}
	var podRef *auth.ObjectRef
	if pod != nil {
		podRef = &auth.ObjectRef{Name: pod.Name, UID: string(pod.UID)}
	}
	if node := rq.user.NodeName(); node != "" && !nodeMayRequestToken(node, sa.Name, pod) {
		return apierrors.NewForbidden(gr(rq.kind), rq.name, fmt.Errorf("node %q can only create tokens for service accounts of pods bound to it", node))
	}
	now := time.Now()
	claims := auth.NewTokenClaims(rq.namespace, auth.ObjectRef{Name: sa.Name, UID: string(sa.UID)}, podRef, auds, now, time.Duration(seconds)*time.Second)
	tok, err := s.cfg.ServiceAccountTokens.Sign(claims)
	if err != nil {
		return err
	}
	out := tr.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{Kind: tokenRequestGVK.Kind, APIVersion: tokenRequestGVK.GroupVersion().String()}
	out.Name, out.Namespace = sa.Name, sa.Namespace
	out.CreationTimestamp = metav1.NewTime(now)
	out.Spec.Audiences = auds
	out.Spec.ExpirationSeconds = &seconds
	out.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(time.Unix(claims.Expiry, 0))}
	writeObject(rq.w, http.StatusCreated, out)
	return nil
}

// nodeMayRequestToken is upstream's Node authorizer rule for tokens: a
// node asks only for tokens bound to a pod scheduled to it, for that pod's
// own service account.
func nodeMayRequestToken(node, sa string, pod *corev1.Pod) bool {
	return pod != nil && pod.Spec.NodeName == node && pod.Spec.ServiceAccountName == sa
}

// boundPod returns the pod a TokenRequest binds its token to, or nil.
// Only pods can be bound (upstream also allows Secrets and Nodes).
func (s *Server) boundPod(ctx context.Context, rq *request, ref *authenticationv1.BoundObjectReference) (*corev1.Pod, error) {
	if ref == nil {
		return nil, nil
	}
	path := field.NewPath("spec", "boundObjectRef")
	if ref.Kind != "Pod" || (ref.APIVersion != "" && ref.APIVersion != "v1") {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), rq.name, field.ErrorList{field.NotSupported(path.Child("kind"), ref.Kind, []string{"Pod"})})
	}
	obj, err := s.cfg.Store.Get(ctx, storage.Key("", "pods", rq.namespace, ref.Name))
	if err != nil {
		return nil, apiErrorFor(s.byGVR[corev1.SchemeGroupVersion.WithResource("pods")], ref.Name, err)
	}
	pod := obj.(*corev1.Pod)
	if ref.UID != "" && ref.UID != pod.UID {
		return nil, apierrors.NewConflict(gr(rq.kind), rq.name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return pod, nil
}
