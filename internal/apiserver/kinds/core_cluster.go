package kinds

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Namespaces and Nodes: the cluster-scoped core kinds.

func namespaceKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Status", "The status of the namespace"), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		ns := obj.(*corev1.Namespace)
		return []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)}
	}
	k.Default = func(obj runtime.Object) {
		ns := obj.(*corev1.Namespace)
		if ns.Status.Phase == "" {
			ns.Status.Phase = corev1.NamespaceActive
		}
		// Upstream's SetDefaults_Namespace labels every namespace with its name.
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	k.PrepareForCreate = func(obj runtime.Object) {
		ns := obj.(*corev1.Namespace)
		ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		// The "kubernetes" finalizer holds the namespace until the namespace
		// controller has emptied it.
		if !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
		}
	}
	k.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
	}
	setValidation(k, dnsLabel, nil, nil)
}

func hasFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

func nodeKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Status", "The status of the node"),
		str("Roles", "The roles of the node"),
		ageColumn,
		str("Version", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
		wide("Internal-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
		wide("External-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
		wide("OS-Image", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
		wide("Kernel-Version", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
		wide("Container-Runtime", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
	}
	k.Row = nodeRow
	k.Default = func(obj runtime.Object) {
		n := obj.(*corev1.Node)
		// Upstream's SetDefaults_NodeStatus: allocatable defaults to capacity.
		if n.Status.Allocatable == nil && n.Status.Capacity != nil {
			n.Status.Allocatable = n.Status.Capacity.DeepCopy()
		}
	}
	k.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
	}
	setValidation(k, dnsSubdomain, validateNodeSpec, func(obj, old runtime.Object) field.ErrorList {
		n, o := obj.(*corev1.Node), old.(*corev1.Node)
		// podCIDR may be set once (by the node IPAM controller), never changed.
		if o.Spec.PodCIDR != "" && n.Spec.PodCIDR != o.Spec.PodCIDR {
			return field.ErrorList{field.Forbidden(field.NewPath("spec", "podCIDR"), "node updates may not change podCIDR except from \"\" to valid")}
		}
		return nil
	})
}

// validateNodeSpec checks taints as upstream: a supported effect, at most
// one taint per key and effect.
func validateNodeSpec(obj runtime.Object) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, t := range obj.(*corev1.Node).Spec.Taints {
		tp := field.NewPath("spec", "taints").Index(i)
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		case "":
			errs = append(errs, field.Required(tp.Child("effect"), ""))
		default:
			errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect, []string{string(corev1.TaintEffectNoSchedule),
				string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute)}))
		}
		if t.Key == "" {
			errs = append(errs, field.Required(tp.Child("key"), ""))
		}
		if key := t.Key + "/" + string(t.Effect); seen[key] {
			errs = append(errs, field.Duplicate(tp.Child("key"), t.Key))
		} else {
			seen[key] = true
		}
	}
	return errs
}

// nodeRow is upstream's printNode.
func nodeRow(obj runtime.Object) []interface{} {
	n := obj.(*corev1.Node)
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
			break
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	info := n.Status.NodeInfo
	return []interface{}{n.Name, strings.Join(status, ","), orNone(strings.Join(nodeRoles(n), ",")), age(n.CreationTimestamp),
		info.KubeletVersion, nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion)}
}

// nodeRoles reads node-role.kubernetes.io/<role> and kubernetes.io/role labels.
func nodeRoles(n *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if role := strings.TrimPrefix(k, "node-role.kubernetes.io/"); role != "" {
				set[role] = true
			}
		case k == "kubernetes.io/role" && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
