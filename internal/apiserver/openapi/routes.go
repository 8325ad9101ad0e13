package openapi

import (
	"fmt"
	authenticationv1 "k8s.io/api/authentication/v1"
	"sort"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// Content types of request bodies. The four patch types are what kubectl
// looks for on a PATCH operation before it computes a strategic merge patch
// from the schema ("OpenAPI V3 path does not support strategic merge patch"
// otherwise).
var (
	patchTypes = []string{
		"application/apply-patch+yaml",
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
	}
	anyType = []string{"*/*"}
	// berth answers in JSON only (it decodes YAML and protobuf bodies).
	jsonType    = []string{"application/json"}
	listTypes   = []string{"application/json", "application/json;stream=watch"}
	streamTypes = []string{"text/plain"}
)

// Query parameters, with upstream's descriptions (kubectl explain and API
// clients show them).
var (
	pName      = param{name: "name", kind: common.PathParameterKind, typ: "string", required: true, desc: "name of the %s"}
	pNamespace = param{name: "namespace", kind: common.PathParameterKind, typ: "string", required: true, desc: "object name and auth scope, such as for teams and projects"}

	pDryRun          = query("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
	pFieldManager    = query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).")
	pFieldValidation = query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.")
	pForce           = query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.")

	pGracePeriod       = query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.")
	pOrphanDependents  = query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.")
	pPropagationPolicy = query("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.")

	pAllowWatchBookmarks  = query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.")
	pContinue             = query("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token.")
	pFieldSelector        = query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything.")
	pLabelSelector        = query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything.")
	pLimit                = query("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.")
	pResourceVersion      = query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details. Defaults to unset")
	pResourceVersionMatch = query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details. Defaults to unset")
	pTimeoutSeconds       = query("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.")
	pWatch                = query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.")

	writeParams  = []param{pDryRun, pFieldManager, pFieldValidation}
	patchParams  = []param{pDryRun, pFieldManager, pFieldValidation, pForce}
	deleteParams = []param{pDryRun, pGracePeriod, pOrphanDependents, pPropagationPolicy}
	listParams   = []param{pAllowWatchBookmarks, pContinue, pFieldSelector, pLabelSelector, pLimit, pResourceVersion, pResourceVersionMatch, pTimeoutSeconds, pWatch}
	// deletecollection takes the list selectors and the delete options.
	deleteCollectionParams = []param{pContinue, pDryRun, pFieldSelector, pGracePeriod, pLabelSelector, pLimit, pOrphanDependents, pPropagationPolicy, pResourceVersion, pResourceVersionMatch, pTimeoutSeconds}

	// connectParams are the options of the streaming subresources (the
	// fields of PodLogOptions, PodExecOptions, ... as query parameters).
	connectParams = map[string][]param{
		"log": {
			query("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
			query("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
			query("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit."),
			query("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
			query("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified."),
			query("tailLines", "integer", "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime."),
			query("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
		},
		"exec": {
			query("command", "string", "Command is the remote command to execute. argv array. Not executed within a shell."),
			query("container", "string", "Container in which to execute the command. Defaults to only container if there is only one container in the pod."),
			query("stderr", "boolean", "Redirect the standard error stream of the pod for this call."),
			query("stdin", "boolean", "Redirect the standard input stream of the pod for this call. Defaults to false."),
			query("stdout", "boolean", "Redirect the standard output stream of the pod for this call."),
			query("tty", "boolean", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
		},
		"attach": {
			query("container", "string", "The container in which to execute the command. Defaults to only container if there is only one container in the pod."),
			query("stderr", "boolean", "Stderr if true indicates that stderr is to be redirected for the attach call. Defaults to true."),
			query("stdin", "boolean", "Stdin if true, redirects the standard input stream of the pod for this call. Defaults to false."),
			query("stdout", "boolean", "Stdout if true indicates that stdout is to be redirected for the attach call. Defaults to true."),
			query("tty", "boolean", "TTY if true indicates that a tty will be allocated for the attach call. This is passed through the container runtime so the tty is allocated on the worker node by the container runtime. Defaults to false."),
		},
		"portforward": {
			query("ports", "integer", "List of ports to forward Required when using WebSockets"),
		},
		"proxy": {
			query("path", "string", "Path is the URL path to use for the current proxy request."),
		},
	}
	// connectMethods are the HTTP methods each streaming subresource answers.
	connectMethods = map[string][]string{
		"exec":        {"GET", "POST"},
		"attach":      {"GET", "POST"},
		"portforward": {"GET", "POST"},
		"proxy":       {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"},
	}
)

func query(name, typ, desc string) param {
	return param{name: name, kind: common.QueryParameterKind, typ: typ, desc: desc}
}

// groupVersionPath is the URL prefix of gv without the leading slash, which
// is also the document's key under /openapi/v3: "api/v1", "apis/apps/v1".
func groupVersionPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// routeSet is one group-version's routes; it implements
// common.RouteContainer for kube-openapi's builders.
type routeSet struct {
	gv     schema.GroupVersion
	routes []common.Route
}

func (s *routeSet) RootPath() string                   { return "/" + groupVersionPath(s.gv) }
func (s *routeSet) PathParameters() []common.Parameter { return nil }
func (s *routeSet) Routes() []common.Route             { return s.routes }

// buildRouteSets returns one routeSet per group-version in ks, sorted by
// path, with the routes berth serves for each kind. Kinds whose Go type has
// no generated schema are left out and reported in skipped (the builders
// would otherwise fail the whole document), as are subresources this package
// cannot describe.
func buildRouteSets(ks []*kinds.Kind, defined func(name string) bool) (sets []*routeSet, skipped []string) {
	byGV := map[schema.GroupVersion]*routeSet{}
	for _, k := range ks {
		obj, list, err := objects(k)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		if !defined(modelName(obj)) || !defined(modelName(list)) {
			skipped = append(skipped, fmt.Sprintf("%s: no generated OpenAPI schema for %s", k.GVK, modelName(obj)))
			continue
		}
		gv := k.GVK.GroupVersion()
		s := byGV[gv]
		if s == nil {
			s = &routeSet{gv: gv}
			byGV[gv] = s
			sets = append(sets, s)
		}
		routes, unknown := kindRoutes(k, obj, list)
		for _, sub := range unknown {
			skipped = append(skipped, fmt.Sprintf("%s: subresource %q has no description", k.GVK, sub))
		}
		s.routes = append(s.routes, routes...)
	}
	sort.Slice(sets, func(i, j int) bool { return groupVersionPath(sets[i].gv) < groupVersionPath(sets[j].gv) })
	return sets, skipped
}

// objects returns empty instances of k's type and list type, from k itself
// or, where the kind leaves New/NewList nil, from client-go's scheme.
func objects(k *kinds.Kind) (obj, list runtime.Object, err error) {
	newObj := func(f func() runtime.Object, gvk schema.GroupVersionKind) (runtime.Object, error) {
		if f != nil {
			return f(), nil
		}
		return scheme.Scheme.New(gvk)
	}
	if obj, err = newObj(k.New, k.GVK); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", k.GVK, err)
	}
	if list, err = newObj(k.NewList, k.GVK.GroupVersion().WithKind(k.GVK.Kind+"List")); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", k.GVK, err)
	}
	return obj, list, nil
}

// kindRoutes lists the operations on k's paths, shaped like upstream's (see
// kubernetes/staging/src/k8s.io/apiserver/pkg/endpoints/installer.go
// registerResourceHandlers): operation IDs, x-kubernetes-action and the
// group-version-kind extension on every operation.
//
// unknown lists the subresources of k it cannot describe.
func kindRoutes(k *kinds.Kind, obj, list runtime.Object) (rs []common.Route, unknown []string) {
	prefix := "/" + groupVersionPath(k.GVK.GroupVersion())
	kind := k.GVK.Kind
	name := pName
	name.desc = fmt.Sprintf(name.desc, kind)
	var collection, item string
	var scope []param // path parameters of the collection
	scoped := ""      // "Namespaced" in operation IDs of namespaced kinds
	if k.Namespaced {
		collection = prefix + "/namespaces/{namespace}/" + k.Resource
		scope = []param{pNamespace}
		scoped = "Namespaced"
	} else {
		collection = prefix + "/" + k.Resource
	}
	item = collection + "/{name}"
	itemScope := append(append([]param{}, scope...), name)
	id := func(verb, suffix string) string {
		return verb + opGroup(k.GVK.Group) + strings.ToUpper(k.GVK.Version[:1]) + k.GVK.Version[1:] + suffix
	}
	status := &metav1.Status{}
	del := &metav1.DeleteOptions{}
	gvk := k.GVK
	coll := target{path: collection, scope: scope, gvk: gvk, model: obj}
	one := target{path: item, scope: itemScope, gvk: gvk, model: obj}

	rs = []common.Route{
		&route{method: "GET", path: collection, id: id("list", scoped+kind), desc: "list or watch objects of kind " + kind,
			action: "list", gvk: gvk, params: with(scope, listParams), produces: listTypes,
			responses: ok(list)},
		coll.create(id("create", scoped+kind), "create a "+kind),
		&route{method: "DELETE", path: collection, id: id("delete", "Collection"+scoped+kind), desc: "delete collection of " + kind,
			action: "deletecollection", gvk: gvk, params: with(scope, deleteCollectionParams), consumes: anyType, produces: jsonType, body: del,
			responses: ok(status)},
		one.read(id("read", scoped+kind), "read the specified "+kind),
		one.replace(id("replace", scoped+kind), "replace the specified "+kind),
		one.patch(id("patch", scoped+kind), "partially update the specified "+kind),
		&route{method: "DELETE", path: item, id: id("delete", scoped+kind), desc: "delete a " + kind,
			action: "delete", gvk: gvk, params: with(itemScope, deleteParams), consumes: anyType, produces: jsonType, body: del,
			responses: []common.StatusCodeResponse{resp(200, "OK", status), resp(202, "Accepted", status)}},
	}
	if k.Namespaced {
		rs = append(rs, &route{method: "GET", path: prefix + "/" + k.Resource, id: id("list", kind+"ForAllNamespaces"),
			desc: "list or watch objects of kind " + kind, action: "list", gvk: gvk, params: listParams, produces: listTypes,
			responses: ok(list)})
	}
	for _, sub := range k.Subresources {
		subRoutes := subresourceRoutes(k, sub, item+"/"+sub, itemScope, func(verb string) string {
			return id(verb, scoped+kind+title(sub))
		}, obj)
		if subRoutes == nil {
			unknown = append(unknown, sub)
		}
		rs = append(rs, subRoutes...)
	}
	return rs, unknown
}

// subresourceRoutes returns the operations on one subresource path, or nil
// for a subresource this package does not know how to describe.
func subresourceRoutes(k *kinds.Kind, sub, path string, scope []param, id func(verb string) string, obj runtime.Object) []common.Route {
	kind := k.GVK.Kind
	// at is this subresource's path serving model as gvk.
	at := func(model runtime.Object, gvk schema.GroupVersionKind) target {
		return target{path: path, scope: scope, gvk: gvk, model: model}
	}
	// readWrite is the GET/PUT/PATCH triple of status and scale.
	readWrite := func(t target) []common.Route {
		return []common.Route{
			t.read(id("read"), "read "+sub+" of the specified "+kind),
			t.replace(id("replace"), "replace "+sub+" of the specified "+kind),
			t.patch(id("patch"), "partially update "+sub+" of the specified "+kind),
		}
	}
	switch sub {
	case "status":
		return readWrite(at(obj, k.GVK))
	case "scale":
		return readWrite(at(&autoscalingv1.Scale{}, autoscalingv1.SchemeGroupVersion.WithKind("Scale")))
	case "finalize":
		return []common.Route{at(obj, k.GVK).replace(id("replace"), "replace finalize of the specified "+kind)}
	case "binding":
		return []common.Route{at(&corev1.Binding{}, corev1.SchemeGroupVersion.WithKind("Binding")).create(id("create"), "create binding of a "+kind)}
	case "eviction":
		return []common.Route{at(&policyv1.Eviction{}, policyv1.SchemeGroupVersion.WithKind("Eviction")).create(id("create"), "create eviction of a "+kind)}
	case "token":
		return []common.Route{at(&authenticationv1.TokenRequest{}, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")).create(id("create"), "create token of a "+kind)}
	case "log":
		return []common.Route{&route{method: "GET", path: path, id: id("read"), desc: "read log of the specified " + kind,
			action: "get", gvk: k.GVK, params: with(scope, connectParams[sub]), produces: streamTypes,
			responses: ok("")}}
	}
	methods, known := connectMethods[sub]
	if !known {
		return nil
	}
	// Streaming subresources are described by their options kind
	// (PodExecOptions, NodeProxyOptions ...), as upstream does.
	gvk := k.GVK.GroupVersion().WithKind(kind + title(sub) + "Options")
	var rs []common.Route
	for _, m := range methods {
		rs = append(rs, &route{method: m, path: path, id: "connect" + title(strings.ToLower(m)) + id(""),
			desc: "connect " + m + " requests to " + sub + " of " + kind, action: "connect", gvk: gvk,
			params: with(scope, connectParams[sub]), produces: anyType, responses: ok("")})
	}
	return rs
}

// target is a path that reads and writes model as gvk; its methods make the
// operations resources and subresources share.
type target struct {
	path  string
	scope []param // path parameters
	gvk   schema.GroupVersionKind
	model runtime.Object
}

func (t target) read(id, desc string) common.Route {
	return &route{method: "GET", path: t.path, id: id, desc: desc, action: "get", gvk: t.gvk,
		params: t.scope, produces: jsonType, responses: ok(t.model)}
}

func (t target) create(id, desc string) common.Route {
	return &route{method: "POST", path: t.path, id: id, desc: desc, action: "post", gvk: t.gvk,
		params: with(t.scope, writeParams), consumes: anyType, produces: jsonType, body: t.model,
		responses: []common.StatusCodeResponse{resp(200, "OK", t.model), resp(201, "Created", t.model), resp(202, "Accepted", t.model)}}
}

func (t target) replace(id, desc string) common.Route {
	return &route{method: "PUT", path: t.path, id: id, desc: desc, action: "put", gvk: t.gvk,
		params: with(t.scope, writeParams), consumes: anyType, produces: jsonType, body: t.model,
		responses: []common.StatusCodeResponse{resp(200, "OK", t.model), resp(201, "Created", t.model)}}
}

// patch takes any of the four patch types; the body is described as
// meta/v1 Patch, as upstream does.
func (t target) patch(id, desc string) common.Route {
	return &route{method: "PATCH", path: t.path, id: id, desc: desc, action: "patch", gvk: t.gvk,
		params: with(t.scope, patchParams), consumes: patchTypes, produces: jsonType, body: &metav1.Patch{},
		responses: []common.StatusCodeResponse{resp(200, "OK", t.model), resp(201, "Created", t.model)}}
}

// opGroup is a group as operation IDs spell it: "" -> "Core",
// "rbac.authorization.k8s.io" -> "RbacAuthorization".
func opGroup(group string) string {
	if group == "" {
		return "Core"
	}
	var b strings.Builder
	for _, part := range strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".") {
		b.WriteString(title(part))
	}
	return b.String()
}

func title(s string) string {
	switch s {
	case "":
		return ""
	case "portforward":
		return "PortForward"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// with returns a fresh slice of a followed by b.
func with(a, b []param) []param {
	return append(append([]param{}, a...), b...)
}

func ok(model interface{}) []common.StatusCodeResponse {
	return []common.StatusCodeResponse{resp(200, "OK", model)}
}

func resp(code int, msg string, model interface{}) common.StatusCodeResponse {
	return &response{code: code, message: msg, model: model}
}

// route is one operation; it implements common.Route.
type route struct {
	method, path, id, desc string
	action                 string
	gvk                    schema.GroupVersionKind
	params                 []param
	consumes, produces     []string
	body                   interface{} // request body model, nil for none
	responses              []common.StatusCodeResponse
}

func (r *route) Method() string        { return r.method }
func (r *route) Path() string          { return r.path }
func (r *route) OperationName() string { return r.id }
func (r *route) Description() string   { return r.desc }
func (r *route) Consumes() []string    { return r.consumes }
func (r *route) Produces() []string    { return r.produces }

func (r *route) Parameters() []common.Parameter {
	ps := make([]common.Parameter, 0, len(r.params)+1)
	for i := range r.params {
		ps = append(ps, &r.params[i])
	}
	if r.body != nil {
		// DeleteOptions may be omitted; every other body is the object.
		ps = append(ps, &param{name: "body", kind: common.BodyParameterKind, required: r.method != "DELETE"})
	}
	return ps
}

// Metadata carries the extensions kubectl reads from an operation.
func (r *route) Metadata() map[string]interface{} {
	return map[string]interface{}{
		"x-kubernetes-action": r.action,
		"x-kubernetes-group-version-kind": map[string]interface{}{
			"group": r.gvk.Group, "version": r.gvk.Version, "kind": r.gvk.Kind,
		},
	}
}

func (r *route) RequestPayloadSample() interface{}                { return r.body }
func (r *route) ResponsePayloadSample() interface{}               { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// param implements common.Parameter.
type param struct {
	name, desc, typ string
	kind            common.ParameterKind
	required        bool
}

func (p *param) Name() string               { return p.name }
func (p *param) Description() string        { return p.desc }
func (p *param) Required() bool             { return p.required }
func (p *param) Kind() common.ParameterKind { return p.kind }
func (p *param) DataType() string           { return p.typ }
func (p *param) AllowMultiple() bool        { return false }

// response implements common.StatusCodeResponse.
type response struct {
	code    int
	message string
	model   interface{}
}

func (r *response) Code() int          { return r.code }
func (r *response) Message() string    { return r.message }
func (r *response) Model() interface{} { return r.model }
