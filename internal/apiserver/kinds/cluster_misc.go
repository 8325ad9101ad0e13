package kinds

import (
	"fmt"
	"net"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The kinds berth stores and prints but whose behaviour lives elsewhere (or
// nowhere yet): leases, network policies, ingresses, disruption budgets,
// RBAC objects and priority classes.

func leaseKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Holder", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		l := obj.(*coordinationv1.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return []interface{}{l.Name, holder, age(l.CreationTimestamp)}
	}
	setValidation(k, dnsSubdomain, nil, nil)
}

func networkPolicyKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Pod-Selector", networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		np := obj.(*networkingv1.NetworkPolicy)
		return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), age(np.CreationTimestamp)}
	}
	// Upstream's SetDefaults_NetworkPolicy: no policyTypes means Ingress,
	// plus Egress when egress rules are given.
	k.Default = func(obj runtime.Object) {
		np := obj.(*networkingv1.NetworkPolicy)
		for i := range np.Spec.Ingress {
			defaultPolicyPorts(np.Spec.Ingress[i].Ports)
		}
		for i := range np.Spec.Egress {
			defaultPolicyPorts(np.Spec.Egress[i].Ports)
		}
		if len(np.Spec.PolicyTypes) == 0 {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) != 0 {
				np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			}
		}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		np := obj.(*networkingv1.NetworkPolicy)
		spec := field.NewPath("spec")
		errs := metav1validation.ValidateLabelSelector(&np.Spec.PodSelector, metav1validation.LabelSelectorValidationOptions{}, spec.Child("podSelector"))
		for i, t := range np.Spec.PolicyTypes {
			if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
				errs = append(errs, field.NotSupported(spec.Child("policyTypes").Index(i), t, []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}))
			}
		}
		for i, r := range np.Spec.Ingress {
			p := spec.Child("ingress").Index(i)
			errs = append(errs, validatePolicyPorts(r.Ports, p.Child("ports"))...)
			errs = append(errs, validatePolicyPeers(r.From, p.Child("from"))...)
		}
		for i, r := range np.Spec.Egress {
			p := spec.Child("egress").Index(i)
			errs = append(errs, validatePolicyPorts(r.Ports, p.Child("ports"))...)
			errs = append(errs, validatePolicyPeers(r.To, p.Child("to"))...)
		}
		return errs
	}, nil)
}

func validatePolicyPorts(ports []networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		pp := p.Index(i)
		if port.Protocol != nil {
			errs = append(errs, validateProtocol(*port.Protocol, pp.Child("protocol"))...)
		}
		if port.Port != nil && port.Port.Type == intstr.Int {
			for _, msg := range validation.IsValidPortNum(port.Port.IntValue()) {
				errs = append(errs, field.Invalid(pp.Child("port"), port.Port.IntVal, msg))
			}
			if port.EndPort != nil && *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
		}
	}
	return errs
}

// validatePolicyPeers checks each peer sets something and that ipBlock
// CIDRs parse (the rule renderer turns them into nftables sets).
func validatePolicyPeers(peers []networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		pp := p.Index(i)
		if peer.PodSelector == nil && peer.NamespaceSelector == nil && peer.IPBlock == nil {
			errs = append(errs, field.Required(pp, "must specify a peer"))
		}
		if peer.IPBlock != nil && (peer.PodSelector != nil || peer.NamespaceSelector != nil) {
			errs = append(errs, field.Forbidden(pp, "may not specify both ipBlock and another peer"))
		}
		if b := peer.IPBlock; b != nil {
			_, cidr, err := net.ParseCIDR(b.CIDR)
			if err != nil {
				errs = append(errs, field.Invalid(pp.Child("ipBlock", "cidr"), b.CIDR, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
				continue
			}
			for j, ex := range b.Except {
				_, exNet, err := net.ParseCIDR(ex)
				ep := pp.Child("ipBlock", "except").Index(j)
				switch {
				case err != nil:
					errs = append(errs, field.Invalid(ep, ex, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
				case !cidr.Contains(exNet.IP) || maskLen(exNet) <= maskLen(cidr):
					errs = append(errs, field.Invalid(ep, ex, "must be a strict subset of `cidr`"))
				}
			}
		}
	}
	return errs
}

func maskLen(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}

func defaultPolicyPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			ports[i].Protocol = &tcp
		}
	}
}

func ingressKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Class", "The name of the IngressClass resource that should be used for additional configuration"),
		str("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
		str("Address", "Address is a list containing ingress points for the load-balancer"),
		str("Ports", "Ports of TLS configurations that open"), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		ing := obj.(*networkingv1.Ingress)
		class := "<none>"
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		var hosts []string
		for _, r := range ing.Spec.Rules {
			if r.Host != "" {
				hosts = append(hosts, r.Host)
			}
		}
		hostCell := "*"
		if len(hosts) > 0 {
			hostCell = strings.Join(hosts, ",")
			if len(hosts) > listMax {
				hostCell = fmt.Sprintf("%s + %d more...", strings.Join(hosts[:listMax], ","), len(ing.Spec.Rules)-listMax)
			}
		}
		var addrs []string
		for _, in := range ing.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				addrs = append(addrs, in.IP)
			} else if in.Hostname != "" {
				addrs = append(addrs, in.Hostname)
			}
		}
		ports := "80"
		if len(ing.Spec.TLS) != 0 {
			ports = "80, 443"
		}
		return []interface{}{ing.Name, class, hostCell, strings.Join(addrs, ","), ports, age(ing.CreationTimestamp)}
	}
	k.PrepareForCreate = func(obj runtime.Object) { obj.(*networkingv1.Ingress).Status = networkingv1.IngressStatus{} }
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		ing := obj.(*networkingv1.Ingress)
		spec := field.NewPath("spec")
		var errs field.ErrorList
		if len(ing.Spec.Rules) == 0 && ing.Spec.DefaultBackend == nil {
			errs = append(errs, field.Invalid(spec, ing.Spec, "either `defaultBackend` or `rules` must be specified"))
		}
		for i, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for j, path := range r.HTTP.Paths {
				pp := spec.Child("rules").Index(i).Child("http", "paths").Index(j)
				switch {
				case path.PathType == nil:
					errs = append(errs, field.Required(pp.Child("pathType"), "pathType must be specified"))
				case *path.PathType != networkingv1.PathTypeExact && *path.PathType != networkingv1.PathTypePrefix &&
					*path.PathType != networkingv1.PathTypeImplementationSpecific:
					errs = append(errs, field.NotSupported(pp.Child("pathType"), *path.PathType, []string{"Exact", "ImplementationSpecific", "Prefix"}))
				case *path.PathType != networkingv1.PathTypeImplementationSpecific && !strings.HasPrefix(path.Path, "/"):
					errs = append(errs, field.Invalid(pp.Child("path"), path.Path, "must be an absolute path"))
				}
			}
		}
		return errs
	}, nil)
}

func ingressClassKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Controller", "Controller that is responsible for handling this class"),
		str("Parameters", "A reference to a resource with additional parameters"), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		ic := obj.(*networkingv1.IngressClass)
		params := "<none>"
		if p := ic.Spec.Parameters; p != nil {
			params = p.Kind
			if p.APIGroup != nil {
				params += "." + *p.APIGroup
			}
			params += "/" + p.Name
		}
		return []interface{}{ic.Name, ic.Spec.Controller, params, age(ic.CreationTimestamp)}
	}
	setValidation(k, dnsSubdomain, nil, nil)
}

func podDisruptionBudgetKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Min Available", "The minimum number of pods that must be available."),
		str("Max Unavailable", "The maximum number of pods that may be unavailable."),
		num("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time."), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		pdb := obj.(*policyv1.PodDisruptionBudget)
		minAvail, maxUnavail := "N/A", "N/A"
		if pdb.Spec.MinAvailable != nil {
			minAvail = pdb.Spec.MinAvailable.String()
		}
		if pdb.Spec.MaxUnavailable != nil {
			maxUnavail = pdb.Spec.MaxUnavailable.String()
		}
		return []interface{}{pdb.Name, minAvail, maxUnavail, int64(pdb.Status.DisruptionsAllowed), age(pdb.CreationTimestamp)}
	}
	k.PrepareForCreate = func(obj runtime.Object) {
		obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		pdb := obj.(*policyv1.PodDisruptionBudget)
		spec := field.NewPath("spec")
		var errs field.ErrorList
		if pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable != nil {
			errs = append(errs, field.Invalid(spec, pdb.Spec, "minAvailable and maxUnavailable cannot be both set"))
		}
		if pdb.Spec.Selector != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(pdb.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		}
		return errs
	}, nil)
}

func roleKind(k *Kind) {
	defaultTable(k)
	setValidation(k, pathSegmentName, nil, nil)
}

func clusterRoleKind(k *Kind) {
	defaultTable(k)
	setValidation(k, pathSegmentName, nil, nil)
}

func bindingColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn, str("Role", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]), ageColumn,
		wide("Users", "Users in the roleBinding"), wide("Groups", "Groups in the roleBinding"),
		wide("ServiceAccounts", "ServiceAccounts in the roleBinding")}
}

// bindingRow prints a (Cluster)RoleBinding as upstream: subjects split by
// kind, service accounts as namespace:name.
func bindingRow(name string, created metav1.Time, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+":"+s.Name)
		}
	}
	return []interface{}{name, ref.Kind + "/" + ref.Name, age(created),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}

// validateRoleRefUnchanged: a binding's roleRef cannot change.
func validateRoleRefUnchanged(ref, old rbacv1.RoleRef) field.ErrorList {
	if !apiequality.Semantic.DeepEqual(ref, old) {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

func validateRoleRef(ref rbacv1.RoleRef) field.ErrorList {
	p := field.NewPath("roleRef")
	var errs field.ErrorList
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if ref.Kind != "Role" && ref.Kind != "ClusterRole" {
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, []string{"Role", "ClusterRole"}))
	}
	return errs
}

// defaultSubjects is upstream's SetDefaults_Subject: users and groups are
// in the RBAC API group, service accounts in core.
func defaultSubjects(subjects []rbacv1.Subject) {
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

func roleBindingKind(k *Kind) {
	k.Default = func(obj runtime.Object) { defaultSubjects(obj.(*rbacv1.RoleBinding).Subjects) }
	k.Columns = bindingColumns()
	k.Row = func(obj runtime.Object) []interface{} {
		b := obj.(*rbacv1.RoleBinding)
		return bindingRow(b.Name, b.CreationTimestamp, b.RoleRef, b.Subjects)
	}
	setValidation(k, pathSegmentName, func(obj runtime.Object) field.ErrorList {
		return validateRoleRef(obj.(*rbacv1.RoleBinding).RoleRef)
	}, func(obj, old runtime.Object) field.ErrorList {
		return validateRoleRefUnchanged(obj.(*rbacv1.RoleBinding).RoleRef, old.(*rbacv1.RoleBinding).RoleRef)
	})
}

func clusterRoleBindingKind(k *Kind) {
	k.Default = func(obj runtime.Object) { defaultSubjects(obj.(*rbacv1.ClusterRoleBinding).Subjects) }
	k.Columns = bindingColumns()
	k.Row = func(obj runtime.Object) []interface{} {
		b := obj.(*rbacv1.ClusterRoleBinding)
		return bindingRow(b.Name, b.CreationTimestamp, b.RoleRef, b.Subjects)
	}
	setValidation(k, pathSegmentName, func(obj runtime.Object) field.ErrorList {
		b := obj.(*rbacv1.ClusterRoleBinding)
		errs := validateRoleRef(b.RoleRef)
		if b.RoleRef.Kind == "Role" {
			errs = append(errs, field.NotSupported(field.NewPath("roleRef", "kind"), b.RoleRef.Kind, []string{"ClusterRole"}))
		}
		return errs
	}, func(obj, old runtime.Object) field.ErrorList {
		return validateRoleRefUnchanged(obj.(*rbacv1.ClusterRoleBinding).RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)
	})
}

func priorityClassKind(k *Kind) {
	d := schedulingv1.PriorityClass{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn, num("Value", d["value"]),
		{Name: "Global-Default", Type: "boolean", Description: d["globalDefault"]}, ageColumn,
		wide("PreemptionPolicy", d["preemptionPolicy"])}
	k.Row = func(obj runtime.Object) []interface{} {
		pc := obj.(*schedulingv1.PriorityClass)
		policy := ""
		if pc.PreemptionPolicy != nil {
			policy = string(*pc.PreemptionPolicy)
		}
		return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, age(pc.CreationTimestamp), policy}
	}
	k.Default = func(obj runtime.Object) {
		pc := obj.(*schedulingv1.PriorityClass)
		if pc.PreemptionPolicy == nil {
			p := corev1.PreemptLowerPriority
			pc.PreemptionPolicy = &p
		}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		pc := obj.(*schedulingv1.PriorityClass)
		if pc.Value > 1000000000 && !strings.HasPrefix(pc.Name, "system-") {
			return field.ErrorList{field.Forbidden(field.NewPath("value"), "maximum allowed value of a user defined priority is 1000000000")}
		}
		return nil
	}, func(obj, old runtime.Object) field.ErrorList {
		if obj.(*schedulingv1.PriorityClass).Value != old.(*schedulingv1.PriorityClass).Value {
			return field.ErrorList{field.Forbidden(field.NewPath("value"), "may not be changed in an update.")}
		}
		return nil
	})
}
