package kinds

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// registry lists every served kind in discovery order. Names, short names
// and categories are upstream's (kubectl learns them only from discovery);
// the behaviour functions live in one file per kind.
var registry = []*Kind{
	// core/v1
	withKind(&Kind{Resource: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
		Subresources: []string{"status", "finalize"}}, corev1.SchemeGroupVersion, "Namespace",
		func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} }, namespaceKind),
	withKind(&Kind{Resource: "pods", Singular: "pod", ShortNames: []string{"po"}, Categories: all, Namespaced: true,
		Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward"}}, corev1.SchemeGroupVersion, "Pod",
		func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} }, podKind),
	withKind(&Kind{Resource: "services", Singular: "service", ShortNames: []string{"svc"}, Categories: all, Namespaced: true,
		Subresources: []string{"status"}}, corev1.SchemeGroupVersion, "Service",
		func() runtime.Object { return &corev1.Service{} }, func() runtime.Object { return &corev1.ServiceList{} }, serviceKind),
	withKind(&Kind{Resource: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true}, corev1.SchemeGroupVersion, "Endpoints",
		func() runtime.Object { return &corev1.Endpoints{} }, func() runtime.Object { return &corev1.EndpointsList{} }, endpointsKind),
	withKind(&Kind{Resource: "nodes", Singular: "node", ShortNames: []string{"no"},
		Subresources: []string{"status", "proxy"}}, corev1.SchemeGroupVersion, "Node",
		func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} }, nodeKind),
	withKind(&Kind{Resource: "configmaps", Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true}, corev1.SchemeGroupVersion, "ConfigMap",
		func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} }, configMapKind),
	withKind(&Kind{Resource: "secrets", Singular: "secret", Namespaced: true}, corev1.SchemeGroupVersion, "Secret",
		func() runtime.Object { return &corev1.Secret{} }, func() runtime.Object { return &corev1.SecretList{} }, secretKind),
	withKind(&Kind{Resource: "events", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true}, corev1.SchemeGroupVersion, "Event",
		func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} }, eventKind),
	withKind(&Kind{Resource: "serviceaccounts", Singular: "serviceaccount", ShortNames: []string{"sa"}, Namespaced: true,
		Subresources: []string{"token"}}, corev1.SchemeGroupVersion, "ServiceAccount",
		func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &corev1.ServiceAccountList{} }, serviceAccountKind),
	withKind(&Kind{Resource: "persistentvolumes", Singular: "persistentvolume", ShortNames: []string{"pv"},
		Subresources: []string{"status"}}, corev1.SchemeGroupVersion, "PersistentVolume",
		func() runtime.Object { return &corev1.PersistentVolume{} }, func() runtime.Object { return &corev1.PersistentVolumeList{} }, persistentVolumeKind),
	withKind(&Kind{Resource: "persistentvolumeclaims", Singular: "persistentvolumeclaim", ShortNames: []string{"pvc"}, Namespaced: true,
		Subresources: []string{"status"}}, corev1.SchemeGroupVersion, "PersistentVolumeClaim",
		func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, func() runtime.Object { return &corev1.PersistentVolumeClaimList{} }, persistentVolumeClaimKind),
	withKind(&Kind{Resource: "resourcequotas", Singular: "resourcequota", ShortNames: []string{"quota"}, Namespaced: true,
		Subresources: []string{"status"}}, corev1.SchemeGroupVersion, "ResourceQuota",
		func() runtime.Object { return &corev1.ResourceQuota{} }, func() runtime.Object { return &corev1.ResourceQuotaList{} }, resourceQuotaKind),
	withKind(&Kind{Resource: "limitranges", Singular: "limitrange", ShortNames: []string{"limits"}, Namespaced: true}, corev1.SchemeGroupVersion, "LimitRange",
		func() runtime.Object { return &corev1.LimitRange{} }, func() runtime.Object { return &corev1.LimitRangeList{} }, limitRangeKind),
	withKind(&Kind{Resource: "replicationcontrollers", Singular: "replicationcontroller", ShortNames: []string{"rc"}, Categories: all, Namespaced: true,
		Subresources: []string{"status", "scale"}}, corev1.SchemeGroupVersion, "ReplicationController",
		func() runtime.Object { return &corev1.ReplicationController{} }, func() runtime.Object { return &corev1.ReplicationControllerList{} }, replicationControllerKind),
	withKind(&Kind{Resource: "podtemplates", Singular: "podtemplate", Namespaced: true}, corev1.SchemeGroupVersion, "PodTemplate",
		func() runtime.Object { return &corev1.PodTemplate{} }, func() runtime.Object { return &corev1.PodTemplateList{} }, podTemplateKind),

	// apps/v1
	withKind(&Kind{Resource: "deployments", Singular: "deployment", ShortNames: []string{"deploy"}, Categories: all, Namespaced: true,
		Subresources: []string{"status", "scale"}}, appsv1.SchemeGroupVersion, "Deployment",
		func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} }, deploymentKind),
	withKind(&Kind{Resource: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"}, Categories: all, Namespaced: true,
		Subresources: []string{"status", "scale"}}, appsv1.SchemeGroupVersion, "ReplicaSet",
		func() runtime.Object { return &appsv1.ReplicaSet{} }, func() runtime.Object { return &appsv1.ReplicaSetList{} }, replicaSetKind),
	withKind(&Kind{Resource: "statefulsets", Singular: "statefulset", ShortNames: []string{"sts"}, Categories: all, Namespaced: true,
		Subresources: []string{"status", "scale"}}, appsv1.SchemeGroupVersion, "StatefulSet",
		func() runtime.Object { return &appsv1.StatefulSet{} }, func() runtime.Object { return &appsv1.StatefulSetList{} }, statefulSetKind),
	withKind(&Kind{Resource: "daemonsets", Singular: "daemonset", ShortNames: []string{"ds"}, Categories: all, Namespaced: true,
		Subresources: []string{"status"}}, appsv1.SchemeGroupVersion, "DaemonSet",
		func() runtime.Object { return &appsv1.DaemonSet{} }, func() runtime.Object { return &appsv1.DaemonSetList{} }, daemonSetKind),
	withKind(&Kind{Resource: "controllerrevisions", Singular: "controllerrevision", Namespaced: true}, appsv1.SchemeGroupVersion, "ControllerRevision",
		func() runtime.Object { return &appsv1.ControllerRevision{} }, func() runtime.Object { return &appsv1.ControllerRevisionList{} }, controllerRevisionKind),

	// batch/v1
	withKind(&Kind{Resource: "jobs", Singular: "job", Categories: all, Namespaced: true,
		Subresources: []string{"status"}}, batchv1.SchemeGroupVersion, "Job",
		func() runtime.Object { return &batchv1.Job{} }, func() runtime.Object { return &batchv1.JobList{} }, jobKind),
	withKind(&Kind{Resource: "cronjobs", Singular: "cronjob", ShortNames: []string{"cj"}, Categories: all, Namespaced: true,
		Subresources: []string{"status"}}, batchv1.SchemeGroupVersion, "CronJob",
		func() runtime.Object { return &batchv1.CronJob{} }, func() runtime.Object { return &batchv1.CronJobList{} }, cronJobKind),

	// autoscaling: v2 first, so it is the preferred version; both are stored as v2.
	withKind(&Kind{Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Categories: all, Namespaced: true,
		Subresources: []string{"status"}}, autoscalingv2.SchemeGroupVersion, "HorizontalPodAutoscaler",
		func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }, hpaV2Kind),
	withKind(&Kind{Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Categories: all, Namespaced: true,
		Subresources: []string{"status"}}, autoscalingv1.SchemeGroupVersion, "HorizontalPodAutoscaler",
		func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} }, func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} }, hpaV1Kind),

	withKind(&Kind{Resource: "leases", Singular: "lease", Namespaced: true}, coordinationv1.SchemeGroupVersion, "Lease",
		func() runtime.Object { return &coordinationv1.Lease{} }, func() runtime.Object { return &coordinationv1.LeaseList{} }, leaseKind),
	withKind(&Kind{Resource: "endpointslices", Singular: "endpointslice", Namespaced: true}, discoveryv1.SchemeGroupVersion, "EndpointSlice",
		func() runtime.Object { return &discoveryv1.EndpointSlice{} }, func() runtime.Object { return &discoveryv1.EndpointSliceList{} }, endpointSliceKind),
	// events.k8s.io/v1 serves the same objects as core/v1 events.
	withKind(&Kind{Resource: "events", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true}, eventsv1.SchemeGroupVersion, "Event",
		func() runtime.Object { return &eventsv1.Event{} }, func() runtime.Object { return &eventsv1.EventList{} }, eventsV1Kind),
	withKind(&Kind{Resource: "networkpolicies", Singular: "networkpolicy", ShortNames: []string{"netpol"}, Namespaced: true}, networkingv1.SchemeGroupVersion, "NetworkPolicy",
		func() runtime.Object { return &networkingv1.NetworkPolicy{} }, func() runtime.Object { return &networkingv1.NetworkPolicyList{} }, networkPolicyKind),
	withKind(&Kind{Resource: "ingresses", Singular: "ingress", ShortNames: []string{"ing"}, Namespaced: true,
		Subresources: []string{"status"}}, networkingv1.SchemeGroupVersion, "Ingress",
		func() runtime.Object { return &networkingv1.Ingress{} }, func() runtime.Object { return &networkingv1.IngressList{} }, ingressKind),
	withKind(&Kind{Resource: "ingressclasses", Singular: "ingressclass"}, networkingv1.SchemeGroupVersion, "IngressClass",
		func() runtime.Object { return &networkingv1.IngressClass{} }, func() runtime.Object { return &networkingv1.IngressClassList{} }, ingressClassKind),
	withKind(&Kind{Resource: "storageclasses", Singular: "storageclass", ShortNames: []string{"sc"}}, storagev1.SchemeGroupVersion, "StorageClass",
		func() runtime.Object { return &storagev1.StorageClass{} }, func() runtime.Object { return &storagev1.StorageClassList{} }, storageClassKind),
	withKind(&Kind{Resource: "poddisruptionbudgets", Singular: "poddisruptionbudget", ShortNames: []string{"pdb"}, Namespaced: true,
		Subresources: []string{"status"}}, policyv1.SchemeGroupVersion, "PodDisruptionBudget",
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} }, podDisruptionBudgetKind),
	withKind(&Kind{Resource: "clusterrolebindings", Singular: "clusterrolebinding"}, rbacv1.SchemeGroupVersion, "ClusterRoleBinding",
		func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }, clusterRoleBindingKind),
	withKind(&Kind{Resource: "clusterroles", Singular: "clusterrole"}, rbacv1.SchemeGroupVersion, "ClusterRole",
		func() runtime.Object { return &rbacv1.ClusterRole{} }, func() runtime.Object { return &rbacv1.ClusterRoleList{} }, clusterRoleKind),
	withKind(&Kind{Resource: "rolebindings", Singular: "rolebinding", Namespaced: true}, rbacv1.SchemeGroupVersion, "RoleBinding",
		func() runtime.Object { return &rbacv1.RoleBinding{} }, func() runtime.Object { return &rbacv1.RoleBindingList{} }, roleBindingKind),
	withKind(&Kind{Resource: "roles", Singular: "role", Namespaced: true}, rbacv1.SchemeGroupVersion, "Role",
		func() runtime.Object { return &rbacv1.Role{} }, func() runtime.Object { return &rbacv1.RoleList{} }, roleKind),
	withKind(&Kind{Resource: "priorityclasses", Singular: "priorityclass", ShortNames: []string{"pc"}}, schedulingv1.SchemeGroupVersion, "PriorityClass",
		func() runtime.Object { return &schedulingv1.PriorityClass{} }, func() runtime.Object { return &schedulingv1.PriorityClassList{} }, priorityClassKind),
}

// all is the "all" category: what `kubectl get all` lists.
var all = []string{"all"}

// withKind completes k's identity (GVK, storage defaults, constructors) and
// lets the per-kind file fill in behaviour through setup, which may be nil.
func withKind(k *Kind, gv schema.GroupVersion, kind string, newObj, newList func() runtime.Object, setup func(*Kind)) *Kind {
	k.GVK = gv.WithKind(kind)
	k.Storage = k.GVK
	k.StorageResource = k.Resource
	k.New = newObj
	k.NewList = newList
	if setup != nil {
		setup(k)
	}
	return k
}

// Lookup returns the kind served at gvr, or nil.
func Lookup(gvr schema.GroupVersionResource) *Kind {
	for _, k := range registry {
		if k.GroupVersionResource() == gvr {
			return k
		}
	}
	return nil
}

// LookupKind returns the kind whose GVK is gvk, or nil.
func LookupKind(gvk schema.GroupVersionKind) *Kind {
	for _, k := range registry {
		if k.GVK == gvk {
			return k
		}
	}
	return nil
}
