package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// immortalNamespaces may not be deleted (upstream's NamespaceLifecycle
// plugin; kube-node-lease is not among them there either).
var immortalNamespaces = map[string]bool{
	metav1.NamespaceDefault: true,
	metav1.NamespaceSystem:  true,
	metav1.NamespacePublic:  true,
}

// namespaceLifecycle refuses creating objects in a namespace that does not
// exist (404) or is being deleted (403), and deleting the system namespaces.
func (p *Plugins) namespaceLifecycle(ctx context.Context, a *Attributes) error {
	if a.Operation == Delete && isCore(a.Kind, "namespaces") && immortalNamespaces[a.Name] {
		return forbidden(a, errors.New("this namespace may not be deleted"))
	}
	if a.Operation != Create || a.Subresource != "" || !a.Kind.Namespaced || a.Namespace == "" {
		return nil
	}
	obj, err := p.cache.get(ctx, p.reader, coreKind("namespaces"), a.Namespace)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("read namespace %s: %w", a.Namespace, err))
	}
	if obj == nil {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, a.Namespace)
	}
	ns := obj.(*corev1.Namespace)
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		msg := fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", a.Namespace)
		err := forbidden(a, errors.New(msg)).(*apierrors.StatusError)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: msg, Field: "metadata.namespace",
		})
		return err
	}
	return nil
}
