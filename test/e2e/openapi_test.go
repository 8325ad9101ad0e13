package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// seedPod is the seed's Pod manifest, as a user applies it.
const seedPod = `apiVersion: v1
kind: Pod
metadata:
  name: hello-pod
  labels:
    app: hello
spec:
  containers:
  - name: hello-container
    image: kubetm/hello
    ports:
    - containerPort: 8000
`

// TestOpenAPIExplain checks that kubectl explain finds kinds and field docs
// in /openapi/v3 (and in /openapi/v2 when asked to).
func TestOpenAPIExplain(t *testing.T) {
	c := StartCluster(t)
	tests := []struct {
		field string
		args  []string
		want  []string
	}{
		{"pod.spec.containers.ports", nil, []string{"KIND:       Pod", "FIELD: ports <[]ContainerPort>",
			"containerPort\t<integer> -required-", "Number of port to expose on the pod's IP address."}},
		{"deployment.spec.strategy", nil, []string{"GROUP:      apps", "KIND:       Deployment", "FIELD: strategy <DeploymentStrategy>",
			"rollingUpdate\t<RollingUpdateDeployment>", "enum: Recreate, RollingUpdate"}},
		// autoscaling/v2 is the preferred HPA version: its document must exist.
		{"hpa.spec.behavior", nil, []string{"GROUP:      autoscaling", "VERSION:    v2", "FIELD: behavior <HorizontalPodAutoscalerBehavior>"}},
		// metrics.k8s.io has a hand-built document (internal/metricsapi).
		{"pods.containers.usage", []string{"--api-version=metrics.k8s.io/v1beta1"}, []string{"GROUP:      metrics.k8s.io",
			"KIND:       PodMetrics", "FIELD: usage <map[string]Quantity>"}},
		// The v2 document, as protobuf: what client-go's OpenAPISchema reads.
		{"pod.spec.restartPolicy", []string{"--output=plaintext-openapiv2"}, []string{"FIELD:    restartPolicy <string>",
			"Restart policy for all containers within the pod."}},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			out := c.Kubectl(append([]string{"explain", tc.field}, tc.args...)...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl explain %s: no %q in\n%s", tc.field, w, out)
				}
			}
		})
	}

	// Every resource discovery lists, at every version, has a schema.
	explained := 0
	for _, gv := range strings.Fields(c.Kubectl("api-versions")) {
		path := "/apis/" + gv
		if gv == "v1" {
			path = "/api/v1"
		}
		var list metav1.APIResourceList
		if err := json.Unmarshal([]byte(c.Kubectl("get", "--raw", path)), &list); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // a subresource
			}
			if out, err := c.KubectlErr("", "explain", r.Name, "--api-version="+gv); err != nil {
				t.Errorf("kubectl explain %s --api-version=%s: %v\n%s", r.Name, gv, err, out)
			}
			explained++
		}
	}
	if explained < 30 {
		t.Errorf("explained %d resources; discovery should list more than 30", explained)
	}
}

// TestOpenAPIValidation checks kubectl's default validation: with a PATCH
// operation carrying fieldValidation in /openapi/v3, kubectl leaves
// validation to the server (fieldValidation=Strict), which must accept good
// manifests of every served group-version and reject unknown fields with
// upstream's message.
func TestOpenAPIValidation(t *testing.T) {
	c := StartCluster(t)
	good := []struct {
		name, manifest, want string
	}{
		{"seed pod", seedPod, "pod/hello-pod created"},
		{"deployment", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: kubetm/hello
`, "deployment.apps/web created"},
		{"autoscaling/v2 hpa", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 80}
`, "horizontalpodautoscaler.autoscaling/web created"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			out := c.KubectlIn(tc.manifest, "apply", "-f", "-")
			if !strings.Contains(out, tc.want) {
				t.Errorf("kubectl apply %s = %q, want %q", tc.name, out, tc.want)
			}
		})
	}
	if got := c.Kubectl("get", "pod", "hello-pod", "-o", "jsonpath={.spec.containers[0].ports[0].containerPort}"); got != "8000" {
		t.Errorf("hello-pod containerPort = %q, want 8000", got)
	}

	t.Run("reapply with a change", func(t *testing.T) {
		// kubectl builds the strategic merge patch from the v3 schema (patch
		// strategies and merge keys) when the PATCH operation takes
		// strategic-merge-patch+json; otherwise it fetches /openapi/v2.
		// -v=6 logs every request.
		out, err := c.KubectlErr(strings.Replace(seedPod, "app: hello", "app: hello2", 1), "apply", "-f", "-", "-v=6")
		if err != nil || !strings.Contains(out, "pod/hello-pod configured") {
			t.Fatalf("kubectl apply of a changed label = %v:\n%s", err, out)
		}
		if strings.Contains(out, "/openapi/v2") {
			t.Errorf("kubectl fell back to /openapi/v2 for the patch:\n%s", out)
		}
		if got := c.Kubectl("get", "pod", "hello-pod", "-o", "jsonpath={.metadata.labels.app}"); got != "hello2" {
			t.Errorf("hello-pod label app = %q, want hello2", got)
		}
	})

	t.Run("unknown field", func(t *testing.T) {
		bad := strings.Replace(seedPod, "name: hello-pod", "name: bad-pod", 1) + "    bogusField: 1\n"
		out, err := c.KubectlErr(bad, "apply", "-f", "-")
		if err == nil {
			t.Fatalf("kubectl apply with an unknown field succeeded:\n%s", out)
		}
		// "Error from server": the server rejected it, as upstream does, not
		// kubectl's client-side schema check.
		for _, w := range []string{"Error from server (BadRequest)", `strict decoding error: unknown field "spec.containers[0].bogusField"`} {
			if !strings.Contains(out, w) {
				t.Errorf("kubectl apply with an unknown field: no %q in\n%s", w, out)
			}
		}
		if out, err := c.KubectlErr("", "get", "pod", "bad-pod"); err == nil {
			t.Errorf("the rejected pod exists:\n%s", out)
		}
	})
}
