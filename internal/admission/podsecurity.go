package admission

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PodSecurity admission: a namespace labelled
// pod-security.kubernetes.io/enforce=baseline|restricted refuses pods that
// break the Pod Security Standards, and one labelled .../warn=LEVEL warns
// about them, with upstream's wording (k8s.io/pod-security-admission/policy,
// each check a function below). Workloads (deployments, jobs, ...) are
// checked against both levels but only warned about, as upstream does. The
// audit mode (audit log annotations) is not implemented.

const (
	enforceLabel        = "pod-security.kubernetes.io/enforce"
	enforceVersionLabel = "pod-security.kubernetes.io/enforce-version"
	warnLabel           = "pod-security.kubernetes.io/warn"
	warnVersionLabel    = "pod-security.kubernetes.io/warn-version"
)

// Pod Security levels; privileged allows everything.
const (
	levelBaseline = iota + 1
	levelRestricted
)

var psLevels = map[string]int{"baseline": levelBaseline, "restricted": levelRestricted}

// psCheck is one control of the standards. A failing check reports its
// reason and the detail naming what broke it.
type psCheck struct {
	id    string
	level int
	// overrides lists the baseline checks a restricted one replaces.
	overrides []string
	check     func(spec *corev1.PodSpec) (reason, detail string, failed bool)
}

// psChecks are evaluated baseline first, then restricted, each group in ID
// order, as upstream's registry does, so messages list them in its order.
var psChecks = []psCheck{
	{id: "capabilities_baseline", level: levelBaseline, check: capabilitiesBaseline},
	{id: "hostNamespaces", level: levelBaseline, check: hostNamespaces},
	{id: "hostPathVolumes", level: levelBaseline, check: hostPathVolumes},
	{id: "hostPorts", level: levelBaseline, check: hostPorts},
	{id: "privileged", level: levelBaseline, check: privilegedContainers},
	{id: "procMount", level: levelBaseline, check: procMount},
	{id: "seccompProfile_baseline", level: levelBaseline, check: seccompBaseline},
	{id: "sysctls", level: levelBaseline, check: sysctls},
	{id: "allowPrivilegeEscalation", level: levelRestricted, check: allowPrivilegeEscalation},
	{id: "capabilities_restricted", level: levelRestricted, overrides: []string{"capabilities_baseline"}, check: capabilitiesRestricted},
	{id: "restrictedVolumes", level: levelRestricted, overrides: []string{"hostPathVolumes"}, check: restrictedVolumes},
	{id: "runAsNonRoot", level: levelRestricted, check: runAsNonRoot},
	{id: "runAsUser", level: levelRestricted, check: runAsUser},
	{id: "seccompProfile_restricted", level: levelRestricted, overrides: []string{"seccompProfile_baseline"}, check: seccompRestricted},
}

// validatePodSecurityLabels refuses a namespace whose enforce label names
// no level, as upstream's PodSecurity plugin validates namespaces.
func validatePodSecurityLabels(a *Attributes) error {
	ns := a.Object.(*corev1.Namespace)
	level, ok := ns.Labels[enforceLabel]
	if !ok || level == "privileged" || psLevels[level] != 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Namespace"}, a.Name, field.ErrorList{field.Invalid(
		field.NewPath("metadata", "labels").Key(enforceLabel), level, "must be one of privileged, baseline, restricted")})
}

// psPolicy is one mode's level of a namespace, as "level:version".
type psPolicy struct {
	level int
	name  string
}

// namespacePolicy reads the level a namespace sets with label (and its
// version label); ok is false for privileged or no label.
func namespacePolicy(ns *corev1.Namespace, label, versionLabel string) (psPolicy, bool) {
	level, ok := psLevels[ns.Labels[label]]
	if !ok {
		return psPolicy{}, false
	}
	version := ns.Labels[versionLabel]
	if version == "" {
		version = "latest"
	}
	return psPolicy{level: level, name: ns.Labels[label] + ":" + version}, true
}

// podSecurity refuses a pod its namespace's enforce level forbids, and
// warns about a pod, or a workload's pod template, that its warn (or, for
// workloads, enforce) level would forbid.
func (p *Plugins) podSecurity(ctx context.Context, a *Attributes) error {
	spec := podSpecOf(a.Object)
	if spec == nil || (a.Operation == Update && !significantUpdate(a.Object, a.OldObject)) {
		return nil
	}
	obj, err := p.cache.get(ctx, p.reader, coreKind("namespaces"), a.Namespace)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("read namespace %s: %w", a.Namespace, err))
	}
	if obj == nil {
		return nil // NamespaceLifecycle has refused it already
	}
	ns := obj.(*corev1.Namespace)
	_, isPod := a.Object.(*corev1.Pod)
	enforce, hasEnforce := namespacePolicy(ns, enforceLabel, enforceVersionLabel)
	if hasEnforce && isPod {
		if failures := evaluatePodSecurity(enforce.level, spec); len(failures) > 0 {
			return forbidden(a, fmt.Errorf("violates PodSecurity %q: %s", enforce.name, strings.Join(failures, ", ")))
		}
	}
	var warnAt []psPolicy
	if warn, ok := namespacePolicy(ns, warnLabel, warnVersionLabel); ok {
		warnAt = append(warnAt, warn)
	}
	if hasEnforce && !isPod && (len(warnAt) == 0 || warnAt[0] != enforce) {
		warnAt = append(warnAt, enforce)
	}
	for _, pol := range warnAt {
		if failures := evaluatePodSecurity(pol.level, spec); len(failures) > 0 {
			a.Warnings = append(a.Warnings, fmt.Sprintf("would violate PodSecurity %q: %s", pol.name, strings.Join(failures, ", ")))
		}
	}
	return nil
}

// significantUpdate is upstream's test for re-checking an update: a pod is
// re-checked when a container image changes (the rest of its spec may not
// change, or only in ways the standards do not look at), a workload when
// its pod template changes.
func significantUpdate(obj, old runtime.Object) bool {
	spec, oldSpec := podSpecOf(obj), podSpecOf(old)
	if oldSpec == nil {
		return true
	}
	if _, isPod := obj.(*corev1.Pod); !isPod {
		return !apiequality.Semantic.DeepEqual(spec, oldSpec)
	}
	if len(spec.Containers) != len(oldSpec.Containers) || len(spec.InitContainers) != len(oldSpec.InitContainers) {
		return true
	}
	for i := range spec.Containers {
		if spec.Containers[i].Image != oldSpec.Containers[i].Image {
			return true
		}
	}
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Image != oldSpec.InitContainers[i].Image {
			return true
		}
	}
	return false
}

// podSpecOf returns the pod spec a pod or workload carries, or nil.
func podSpecOf(obj runtime.Object) *corev1.PodSpec {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.Spec
	case *corev1.PodTemplate:
		return &o.Template.Spec
	case *corev1.ReplicationController:
		if o.Spec.Template != nil {
			return &o.Spec.Template.Spec
		}
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec
	case *batchv1.Job:
		return &o.Spec.Template.Spec
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec
	}
	return nil
}

// evaluatePodSecurity returns "reason (detail)" for every check of level
// that spec fails.
func evaluatePodSecurity(level int, spec *corev1.PodSpec) []string {
	skip := map[string]bool{}
	for _, c := range psChecks {
		if c.level <= level {
			for _, o := range c.overrides {
				skip[o] = true
			}
		}
	}
	var out []string
	for _, c := range psChecks {
		if c.level > level || skip[c.id] {
			continue
		}
		if reason, detail, failed := c.check(spec); failed {
			if detail != "" {
				reason += " (" + detail + ")"
			}
			out = append(out, reason)
		}
	}
	return out
}

// visitContainers visits init containers, then containers, as upstream.
func visitContainers(spec *corev1.PodSpec, f func(c *corev1.Container)) {
	for i := range spec.InitContainers {
		f(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		f(&spec.Containers[i])
	}
}

func pluralize(singular, plural string, n int) string {
	if n == 1 {
		return singular
	}
	return plural
}

func joinQuote(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// containersDetail is "container "a"" or "containers "a", "b"".
func containersDetail(names []string) string {
	return pluralize("container", "containers", len(names)) + " " + joinQuote(names)
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var baselineCapabilities = map[corev1.Capability]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true, "KILL": true, "MKNOD": true,
	"NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

func capabilitiesBaseline(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	caps := map[string]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			return
		}
		valid := true
		for _, cp := range c.SecurityContext.Capabilities.Add {
			if !baselineCapabilities[cp] {
				valid = false
				caps[string(cp)] = true
			}
		}
		if !valid {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return "", "", false
	}
	return "non-default capabilities", fmt.Sprintf("%s must not include %s in securityContext.capabilities.add",
		containersDetail(bad), joinQuote(sortedKeys(caps))), true
}

func hostNamespaces(spec *corev1.PodSpec) (string, string, bool) {
	var ns []string
	if spec.HostIPC {
		ns = append(ns, "hostIPC")
	}
	if spec.HostNetwork {
		ns = append(ns, "hostNetwork")
	}
	if spec.HostPID {
		ns = append(ns, "hostPID")
	}
	if len(ns) == 0 {
		return "", "", false
	}
	return "host namespaces", strings.Join(ns, ", "), true
}

func hostPathVolumes(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			bad = append(bad, v.Name)
		}
	}
	if len(bad) == 0 {
		return "", "", false
	}
	return "hostPath volumes", pluralize("volume", "volumes", len(bad)) + " " + joinQuote(bad), true
}

func hostPorts(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	ports := map[int]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		valid := true
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				valid = false
				ports[int(p.HostPort)] = true
			}
		}
		if !valid {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return "", "", false
	}
	list := make([]string, 0, len(ports))
	for p := range ports {
		list = append(list, strconv.Itoa(p))
	}
	sort.Strings(list) // upstream sorts them as strings
	return "hostPort", fmt.Sprintf("%s %s %s %s", containersDetail(bad), pluralize("uses", "use", len(bad)),
		pluralize("hostPort", "hostPorts", len(list)), strings.Join(list, ", ")), true
}

func privilegedContainers(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return "", "", false
	}
	return "privileged", containersDetail(bad) + " must not set securityContext.privileged=true", true
}

func procMount(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.ProcMount != nil && *c.SecurityContext.ProcMount != corev1.DefaultProcMount {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return "", "", false
	}
	return "procMount", containersDetail(bad) + ` must not set securityContext.procMount to "Unmasked"`, true
}

// seccompSetters lists who sets a seccomp profile type for which bad
// reports true: "pod" and/or `container(s) "a"`.
func seccompSetters(spec *corev1.PodSpec, bad func(corev1.SeccompProfileType) bool) (setters []string, values map[string]bool) {
	values = map[string]bool{}
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && bad(sc.SeccompProfile.Type) {
		setters = append(setters, "pod")
		values[string(sc.SeccompProfile.Type)] = true
	}
	var containers []string
	visitContainers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil && bad(sc.SeccompProfile.Type) {
			containers = append(containers, c.Name)
			values[string(sc.SeccompProfile.Type)] = true
		}
	})
	if len(containers) > 0 {
		setters = append(setters, containersDetail(containers))
	}
	return setters, values
}

func seccompBaseline(spec *corev1.PodSpec) (string, string, bool) {
	setters, _ := seccompSetters(spec, func(t corev1.SeccompProfileType) bool { return t == corev1.SeccompProfileTypeUnconfined })
	if len(setters) == 0 {
		return "", "", false
	}
	return "seccompProfile", strings.Join(setters, " and ") + ` must not set securityContext.seccompProfile.type to "Unconfined"`, true
}

func validSeccomp(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeRuntimeDefault || t == corev1.SeccompProfileTypeLocalhost
}

func seccompRestricted(spec *corev1.PodSpec) (string, string, bool) {
	setters, values := seccompSetters(spec, func(t corev1.SeccompProfileType) bool { return !validSeccomp(t) })
	if len(setters) > 0 {
		return "seccompProfile", fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s",
			strings.Join(setters, " and "), joinQuote(sortedKeys(values))), true
	}
	podSet := spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil
	var implicit []string
	visitContainers(spec, func(c *corev1.Container) {
		if (c.SecurityContext == nil || c.SecurityContext.SeccompProfile == nil) && !podSet {
			implicit = append(implicit, c.Name)
		}
	})
	if len(implicit) == 0 {
		return "", "", false
	}
	return "seccompProfile", fmt.Sprintf(`pod or %s must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
		containersDetail(implicit)), true
}

// safeSysctls are the sysctls the baseline level allows.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced": true, "net.ipv4.ip_local_port_range": true, "net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.tcp_syncookies": true, "net.ipv4.ping_group_range": true, "net.ipv4.ip_local_reserved_ports": true,
	"net.ipv4.tcp_keepalive_time": true, "net.ipv4.tcp_fin_timeout": true, "net.ipv4.tcp_keepalive_intvl": true,
	"net.ipv4.tcp_keepalive_probes": true, "net.ipv4.tcp_rmem": true, "net.ipv4.tcp_wmem": true,
}

func sysctls(spec *corev1.PodSpec) (string, string, bool) {
	if spec.SecurityContext == nil {
		return "", "", false
	}
	var bad []string
	for _, s := range spec.SecurityContext.Sysctls {
		if !safeSysctls[s.Name] {
			bad = append(bad, s.Name)
		}
	}
	if len(bad) == 0 {
		return "", "", false
	}
	return "forbidden sysctls", strings.Join(bad, ", "), true
}

func allowPrivilegeEscalation(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return "", "", false
	}
	return "allowPrivilegeEscalation != false", containersDetail(bad) + " must set securityContext.allowPrivilegeEscalation=false", true
}

func capabilitiesRestricted(spec *corev1.PodSpec) (string, string, bool) {
	var missingDrop, adding []string
	caps := map[string]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			missingDrop = append(missingDrop, c.Name)
			return
		}
		dropped := false
		for _, cp := range c.SecurityContext.Capabilities.Drop {
			if cp == "ALL" {
				dropped = true
			}
		}
		if !dropped {
			missingDrop = append(missingDrop, c.Name)
		}
		added := false
		for _, cp := range c.SecurityContext.Capabilities.Add {
			if cp != "NET_BIND_SERVICE" {
				added = true
				caps[string(cp)] = true
			}
		}
		if added {
			adding = append(adding, c.Name)
		}
	})
	var details []string
	if len(missingDrop) > 0 {
		details = append(details, containersDetail(missingDrop)+` must set securityContext.capabilities.drop=["ALL"]`)
	}
	if len(adding) > 0 {
		details = append(details, fmt.Sprintf("%s must not include %s in securityContext.capabilities.add",
			containersDetail(adding), joinQuote(sortedKeys(caps))))
	}
	if len(details) == 0 {
		return "", "", false
	}
	return "unrestricted capabilities", strings.Join(details, "; "), true
}

func restrictedVolumes(spec *corev1.PodSpec) (string, string, bool) {
	var bad []string
	types := map[string]bool{}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil, v.CSI != nil, v.DownwardAPI != nil, v.EmptyDir != nil, v.Ephemeral != nil,
			v.PersistentVolumeClaim != nil, v.Projected != nil, v.Secret != nil:
			continue
		case v.HostPath != nil:
			types["hostPath"] = true
		case v.NFS != nil:
			types["nfs"] = true
		case v.ISCSI != nil:
			types["iscsi"] = true
		case v.GitRepo != nil:
			types["gitRepo"] = true
		default:
			types["unknown"] = true
		}
		bad = append(bad, v.Name)
	}
	if len(bad) == 0 {
		return "", "", false
	}
	return "restricted volume types", fmt.Sprintf("%s %s %s %s %s", pluralize("volume", "volumes", len(bad)), joinQuote(bad),
		pluralize("uses", "use", len(bad)), pluralize("restricted volume type", "restricted volume types", len(types)),
		joinQuote(sortedKeys(types))), true
}

func runAsNonRoot(spec *corev1.PodSpec) (string, string, bool) {
	var setters []string
	podNonRoot := false
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if *sc.RunAsNonRoot {
			podNonRoot = true
		} else {
			setters = append(setters, "pod")
		}
	}
	var explicit, implicit []string
	visitContainers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
			if !*sc.RunAsNonRoot {
				explicit = append(explicit, c.Name)
			}
		} else if !podNonRoot {
			implicit = append(implicit, c.Name)
		}
	})
	if len(explicit) > 0 {
		setters = append(setters, containersDetail(explicit))
	}
	if len(setters) > 0 {
		return "runAsNonRoot != true", strings.Join(setters, " and ") + " must not set securityContext.runAsNonRoot=false", true
	}
	if len(implicit) > 0 {
		return "runAsNonRoot != true", "pod or " + containersDetail(implicit) + " must set securityContext.runAsNonRoot=true", true
	}
	return "", "", false
}

func runAsUser(spec *corev1.PodSpec) (string, string, bool) {
	var setters []string
	if sc := spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		setters = append(setters, "pod")
	}
	var bad []string
	visitContainers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) > 0 {
		setters = append(setters, containersDetail(bad))
	}
	if len(setters) == 0 {
		return "", "", false
	}
	return "runAsUser=0", strings.Join(setters, " and ") + " must not set runAsUser=0", true
}
