package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRBACServiceAccountToken: `kubectl create token` gives a JWT for the
// default service account, which may not list pods until a RoleBinding to
// view says so.
func TestRBACServiceAccountToken(t *testing.T) {
	c := StartCluster(t)
	var tok string
	Eventually(t, time.Minute, func() error { // the serviceaccount controller makes "default"
		out, err := c.KubectlErr("", "create", "token", "default")
		tok = strings.TrimSpace(out)
		return err
	})
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("kubectl create token = %q, want a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var claims struct {
		Iss string   `json:"iss"`
		Sub string   `json:"sub"`
		Aud []string `json:"aud"`
		Exp int64    `json:"exp"`
		K8s struct {
			Namespace      string `json:"namespace"`
			ServiceAccount struct {
				Name, UID string
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("JWT claims %s: %v", payload, err)
	}
	uid := c.Kubectl("get", "sa", "default", "-o", "jsonpath={.metadata.uid}")
	if claims.Iss != "https://kubernetes.default.svc.cluster.local" || claims.Sub != "system:serviceaccount:default:default" ||
		claims.K8s.Namespace != "default" || claims.K8s.ServiceAccount.UID != uid || len(claims.Aud) != 1 || claims.Exp <= time.Now().Unix() {
		t.Errorf("claims = %s (sa uid %s)", payload, uid)
	}

	asSA := withToken(t, c, tok)
	out, err := asSA("get", "pods", "-n", "default")
	const want = `pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("list pods with the token: err=%v out=%q, want %q", err, out, want)
	}
	if out, err := asSA("get", "pods", "-n", "default", "--token", "not-a-token"); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Errorf("a bad token: err=%v out=%q, want Unauthorized", err, out)
	}

	// kubectl auth can-i asks with a SelfSubjectAccessReview.
	if out, err := asSA("auth", "can-i", "list", "pods", "-n", "default"); err == nil || strings.TrimSpace(out) != "no" {
		t.Errorf("auth can-i list pods before the binding: err=%v out=%q, want no", err, out)
	}
	if out := c.Kubectl("auth", "can-i", "delete", "nodes"); strings.TrimSpace(out) != "yes" {
		t.Errorf("admin auth can-i delete nodes = %q, want yes", out)
	}
	c.Kubectl("create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:default", "-n", "default")
	Eventually(t, 30*time.Second, func() error {
		out, err := asSA("get", "pods", "-n", "default", "-o", "name")
		if err != nil {
			return fmt.Errorf("list pods after the binding: %v: %s", err, out)
		}
		return nil
	})
	if out, err := asSA("auth", "can-i", "list", "pods", "-n", "default"); err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("auth can-i list pods after the binding: err=%v out=%q, want yes", err, out)
	}
	// view is namespaced by the RoleBinding and does not write.
	if out, err := asSA("get", "pods", "-n", "kube-system"); err == nil {
		t.Errorf("list pods in kube-system with a default RoleBinding: allowed: %s", out)
	}
	if out, err := asSA("create", "configmap", "x", "-n", "default"); err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("create configmap with view: err=%v out=%q", err, out)
	}

	// Extension APIs (metrics.k8s.io) are authorized too.
	if out, err := asSA("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods"); err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("metrics of kube-system pods with view in default: err=%v out=%q", err, out)
	}

	// The signing key is kept: the token outlives a server restart.
	c.Stop()
	c.Start()
	if out, err := asSA("get", "pods", "-n", "default", "-o", "name"); err != nil {
		t.Errorf("list pods with the token after a restart: %v: %s", err, out)
	}

	// Deleting the account revokes its tokens.
	c.Kubectl("delete", "sa", "default", "-n", "default")
	if out, err := asSA("get", "pods", "-n", "default"); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Errorf("token of a deleted account: err=%v out=%q, want Unauthorized", err, out)
	}
}

// TestRBACPodServiceAccountVolume: a pod gets the kube-api-access projected
// volume, and its token is accepted by the API server as the pod's account.
func TestRBACPodServiceAccountVolume(t *testing.T) {
	c := StartCluster(t)
	loadBaseImages(t, c)
	Eventually(t, time.Minute, func() error { // the serviceaccount controller's account and CA ConfigMap
		_, err := c.KubectlErr("", "get", "sa/default", "configmap/kube-root-ca.crt")
		return err
	})
	c.KubectlIn(`apiVersion: v1
kind: Pod
metadata: {name: sa-files}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "d=/var/run/secrets/kubernetes.io/serviceaccount; cat $d/namespace; echo; head -1 $d/ca.crt; cat $d/token; echo; echo host=$KUBERNETES_SERVICE_HOST"]
`, "apply", "-f", "-")
	Eventually(t, 2*time.Minute, func() error {
		if p := c.Kubectl("get", "pod", "sa-files", "-o", "jsonpath={.status.phase}"); p != "Succeeded" {
			return fmt.Errorf("phase %q", p)
		}
		return nil
	})
	lines := strings.Split(c.Kubectl("logs", "sa-files"), "\n")
	if len(lines) < 4 || lines[0] != "default" || lines[1] != "-----BEGIN CERTIFICATE-----" || strings.Count(lines[2], ".") != 2 || lines[3] != "host=10.96.0.1" {
		t.Fatalf("files seen by the pod: %q", lines)
	}
	// The pod-bound token authenticates as the account (so it is forbidden, not unauthorized).
	out, err := withToken(t, c, lines[2])("get", "secrets")
	if err == nil || !strings.Contains(out, `User "system:serviceaccount:default:default" cannot list resource "secrets"`) {
		t.Errorf("pod token: err=%v out=%q", err, out)
	}
}

// withToken returns a kubectl that presents only tok: an empty kubeconfig,
// so the admin client certificate is not sent along.
func withToken(t *testing.T, c *Cluster, tok string) func(args ...string) (string, error) {
	t.Helper()
	server := c.Kubectl("config", "view", "-o", "jsonpath={.clusters[0].cluster.server}")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, error) {
		return c.KubectlErr("", append([]string{"--kubeconfig", empty, "--server", server, "--token", tok,
			"--certificate-authority", filepath.Join(c.DataDir, "tls", "ca.crt")}, args...)...)
	}
}
