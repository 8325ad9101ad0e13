package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// helloVersion builds kubetm/hello:<v>, a busybox httpd answering <v>.
func helloVersion(t *testing.T, c *Cluster, v string) {
	t.Helper()
	dir := t.TempDir()
	df := "FROM busybox\nRUN mkdir -p /www && echo " + v + " > /www/index.html\nEXPOSE 8000\nCMD [\"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/www\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	c.dockerIn(t, dir, "build", "-t", "kubetm/hello:"+v, ".")
}

const helloDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 3
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: hello
        image: kubetm/hello:v1
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8000}]
        readinessProbe:
          httpGet: {path: /, port: 8000}
          periodSeconds: 1
        lifecycle:
          # Keep serving while the endpoints drop this pod.
          preStop: {exec: {command: ["sleep", "3"]}}
`

// TestControllersZeroDowntimeRollout is issue 6's headline: a client
// requesting a Service without pause sees no failure while `kubectl set
// image` rolls to v2, the answer switches to v2, and `rollout undo`
// switches it back. It needs the node agent and the service proxy.
func TestControllersZeroDowntimeRollout(t *testing.T) {
	c := StartCluster(t)
	requireReadyNode(t, c)
	loadBaseImages(t, c)
	helloVersion(t, c, "v1")
	helloVersion(t, c, "v2")
	c.KubectlIn(helloDeployment, "apply", "-f", "-")
	c.Kubectl("expose", "deployment", "hello", "--port=80", "--target-port=8000")
	c.Kubectl("rollout", "status", "deployment/hello", "--timeout=120s")
	vip := strings.TrimSpace(c.Kubectl("get", "service", "hello", "-o", "jsonpath={.spec.clusterIP}"))
	url := "http://" + vip + "/"
	Eventually(t, 30*time.Second, func() error {
		_, err := c.HTTPGet(url)
		return err
	})

	t.Run("deleted pod replaced", func(t *testing.T) {
		pods, err := livePods(t, c, "default", "app=hello")
		if err != nil || len(pods) != 3 {
			t.Fatalf("pods %d, %v", len(pods), err)
		}
		start := time.Now()
		c.Kubectl("delete", "pod", pods[0].Name, "--wait=false")
		Eventually(t, 60*time.Second, func() error {
			now, err := livePods(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			running := 0
			for _, p := range now {
				if p.Name != pods[0].Name && p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			if running != 3 {
				return fmt.Errorf("%d of 3 pods running", running)
			}
			return nil
		})
		t.Logf("replacement pod Running %.1fs after the delete", time.Since(start).Seconds())
	})

	// watch requests url until stop is closed and returns the answers and failures.
	watch := func(stop <-chan struct{}) (answers map[string]int, failures []string, last string) {
		answers = map[string]int{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := c.HTTPGet(url)
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			last = strings.TrimSpace(out)
			answers[last]++
			time.Sleep(20 * time.Millisecond)
		}
	}
	roll := func(t *testing.T, want string, change func()) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var answers map[string]int
		var failures []string
		var last string
		wg.Add(1)
		go func() { defer wg.Done(); answers, failures, last = watch(stop) }()
		change()
		c.Kubectl("rollout", "status", "deployment/hello", "--timeout=180s")
		// Let the last old pods drain before judging.
		time.Sleep(5 * time.Second)
		close(stop)
		wg.Wait()
		if len(failures) > 0 {
			t.Errorf("%d failed requests during the rollout, first: %s", len(failures), failures[0])
		}
		if last != want || answers[want] == 0 {
			t.Errorf("answers %v, last %q; want the rollout to end on %q", answers, last, want)
		}
		t.Logf("answers during the rollout: %v", answers)
	}

	t.Run("set image rolls to v2 without a failed request", func(t *testing.T) {
		roll(t, "v2", func() { c.Kubectl("set", "image", "deployment/hello", "hello=kubetm/hello:v2") })
	})
	t.Run("rollout undo switches back to v1", func(t *testing.T) {
		roll(t, "v1", func() { c.Kubectl("rollout", "undo", "deployment/hello") })
		hist := c.Kubectl("rollout", "history", "deployment/hello")
		if !strings.Contains(hist, "2 ") || !strings.Contains(hist, "3 ") {
			t.Errorf("rollout history lacks revisions 2 and 3:\n%s", hist)
		}
	})
}
