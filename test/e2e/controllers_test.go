package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// getJSON runs `kubectl get ... -o json` into v.
func getJSON(t *testing.T, c *Cluster, v any, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, se, err := c.Run(ctx, "", "kubectl", append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return fmt.Errorf("kubectl get %v: %w: %s", args, err, se)
	}
	return json.Unmarshal([]byte(out), v)
}

func progressing(d appsv1.Deployment) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// livePods lists the pods matching selector that aren't being deleted.
func livePods(t *testing.T, c *Cluster, ns, selector string) ([]corev1.Pod, error) {
	var l corev1.PodList
	if err := getJSON(t, c, &l, "pods", "-n", ns, "-l", selector); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func wantPods(t *testing.T, c *Cluster, ns, selector string, n int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		pods, err := livePods(t, c, ns, selector)
		if err != nil {
			return err
		}
		if len(pods) != n {
			return fmt.Errorf("%d pods with %s, want %d", len(pods), selector, n)
		}
		return nil
	})
}

func replicaSetsOf(t *testing.T, c *Cluster, ns, selector string) ([]appsv1.ReplicaSet, error) {
	var l appsv1.ReplicaSetList
	if err := getJSON(t, c, &l, "rs", "-n", ns, "-l", selector); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// TestControllersDeployment follows a Deployment through scale, rollout,
// history, undo, a stalled rollout and cascading deletion with the real
// kubectl. It checks the objects the controllers write, so it doesn't need
// pods to run, except where it says so.
func TestControllersDeployment(t *testing.T) {
	c := StartCluster(t)
	c.Kubectl("create", "deployment", "hello", "--image=kubetm/hello", "--replicas=3")

	t.Run("replicaset and pods created", func(t *testing.T) {
		wantPods(t, c, "default", "app=hello", 3, 30*time.Second)
		rss, err := replicaSetsOf(t, c, "default", "app=hello")
		if err != nil {
			t.Fatal(err)
		}
		if len(rss) != 1 {
			t.Fatalf("%d replica sets, want 1", len(rss))
		}
		rs := rss[0]
		hash := rs.Labels["pod-template-hash"]
		if hash == "" || rs.Name != "hello-"+hash {
			t.Errorf("replica set %q labels %v, want hello-<pod-template-hash>", rs.Name, rs.Labels)
		}
		if rs.Annotations["deployment.kubernetes.io/revision"] != "1" {
			t.Errorf("revision annotation = %q, want 1", rs.Annotations["deployment.kubernetes.io/revision"])
		}
		pods, _ := livePods(t, c, "default", "app=hello")
		for _, p := range pods {
			ref := p.OwnerReferences
			if len(ref) != 1 || ref[0].Name != rs.Name || ref[0].Controller == nil || !*ref[0].Controller {
				t.Errorf("pod %s ownerReferences %+v, want controller %s", p.Name, ref, rs.Name)
			}
		}
	})

	t.Run("scale 3 to 10 to 0", func(t *testing.T) {
		c.Kubectl("scale", "deployment", "hello", "--replicas=10")
		wantPods(t, c, "default", "app=hello", 10, 30*time.Second)
		c.Kubectl("scale", "deployment", "hello", "--replicas=0")
		wantPods(t, c, "default", "app=hello", 0, 30*time.Second)
		c.Kubectl("scale", "deployment", "hello", "--replicas=3")
		wantPods(t, c, "default", "app=hello", 3, 30*time.Second)
	})

	t.Run("deleted pod replaced", func(t *testing.T) {
		pods, err := livePods(t, c, "default", "app=hello")
		if err != nil || len(pods) == 0 {
			t.Fatalf("pods: %v %v", pods, err)
		}
		c.Kubectl("delete", "pod", pods[0].Name, "--wait=false")
		Eventually(t, 30*time.Second, func() error {
			now, err := livePods(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			for _, p := range now {
				if p.Name == pods[0].Name {
					return fmt.Errorf("pod %s still live", p.Name)
				}
			}
			if len(now) != 3 {
				return fmt.Errorf("%d live pods, want 3", len(now))
			}
			return nil
		})
	})

	t.Run("set image, history, undo", func(t *testing.T) {
		c.Kubectl("set", "image", "deployment/hello", "hello=kubetm/hello:v2")
		var first string
		Eventually(t, 30*time.Second, func() error {
			rss, err := replicaSetsOf(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			revs := map[string]string{}
			for _, rs := range rss {
				revs[rs.Annotations["deployment.kubernetes.io/revision"]] = rs.Name
			}
			if revs["1"] == "" || revs["2"] == "" {
				return fmt.Errorf("revisions %v, want 1 and 2", revs)
			}
			first = revs["1"]
			return nil
		})
		hist := c.Kubectl("rollout", "history", "deployment/hello")
		for _, w := range []string{"REVISION", "1 ", "2 "} {
			if !strings.Contains(hist, w) {
				t.Errorf("rollout history: no %q in\n%s", w, hist)
			}
		}
		c.Kubectl("rollout", "undo", "deployment/hello")
		Eventually(t, 30*time.Second, func() error {
			rss, err := replicaSetsOf(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			if len(rss) != 2 {
				return fmt.Errorf("%d replica sets after undo, want the 2 existing ones", len(rss))
			}
			for _, rs := range rss {
				if rs.Name == first && rs.Annotations["deployment.kubernetes.io/revision"] == "3" {
					return nil
				}
			}
			return fmt.Errorf("replica set %s not reused as revision 3", first)
		})
		var d appsv1.Deployment
		if err := getJSON(t, c, &d, "deployment", "hello"); err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "kubetm/hello" {
			t.Errorf("image after undo = %q, want kubetm/hello", img)
		}
	})

	t.Run("stalled rollout reports ProgressDeadlineExceeded", func(t *testing.T) {
		c.Kubectl("create", "deployment", "stuck", "--image=berth.invalid/does-not-exist:1", "--replicas=2")
		c.Kubectl("patch", "deployment", "stuck", "-p", `{"spec":{"progressDeadlineSeconds":3}}`)
		Eventually(t, 60*time.Second, func() error {
			var d appsv1.Deployment
			if err := getJSON(t, c, &d, "deployment", "stuck"); err != nil {
				return err
			}
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" && cond.Status == corev1.ConditionFalse {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v, want Progressing False ProgressDeadlineExceeded", d.Status.Conditions)
		})
		out, err := c.KubectlErr("", "rollout", "status", "deployment/stuck", "--timeout=20s")
		if err == nil || !strings.Contains(out+err.Error(), "exceeded its progress deadline") {
			t.Errorf("rollout status = %q, %v; want an error about the progress deadline", out, err)
		}
	})

	t.Run("delete with --cascade=orphan keeps replica sets", func(t *testing.T) {
		c.Kubectl("create", "deployment", "keep", "--image=kubetm/hello", "--replicas=2")
		wantPods(t, c, "default", "app=keep", 2, 30*time.Second)
		c.Kubectl("delete", "deployment", "keep", "--cascade=orphan")
		Eventually(t, 30*time.Second, func() error {
			rss, err := replicaSetsOf(t, c, "default", "app=keep")
			if err != nil {
				return err
			}
			if len(rss) != 1 || len(rss[0].OwnerReferences) != 0 {
				return fmt.Errorf("replica sets %+v, want one with no ownerReferences", rss)
			}
			return nil
		})
		wantPods(t, c, "default", "app=keep", 2, 5*time.Second)
	})

	t.Run("rollout restart makes a new revision", func(t *testing.T) {
		c.Kubectl("rollout", "restart", "deployment/hello")
		Eventually(t, 30*time.Second, func() error {
			rss, err := replicaSetsOf(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			for _, rs := range rss {
				if rs.Annotations["deployment.kubernetes.io/revision"] == "4" &&
					rs.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
					return nil
				}
			}
			return fmt.Errorf("no revision 4 with the restartedAt annotation among %d replica sets", len(rss))
		})
	})

	t.Run("paused rollout waits for resume", func(t *testing.T) {
		before, err := replicaSetsOf(t, c, "default", "app=hello")
		if err != nil {
			t.Fatal(err)
		}
		c.Kubectl("rollout", "pause", "deployment/hello")
		c.Kubectl("set", "image", "deployment/hello", "hello=kubetm/hello:paused")
		time.Sleep(2 * time.Second) // nothing must happen; give the controller the chance to misbehave
		during, err := replicaSetsOf(t, c, "default", "app=hello")
		if err != nil {
			t.Fatal(err)
		}
		if len(during) != len(before) {
			t.Errorf("paused deployment made a replica set: %d -> %d", len(before), len(during))
		}
		var d appsv1.Deployment
		if err := getJSON(t, c, &d, "deployment", "hello"); err != nil {
			t.Fatal(err)
		}
		if cond := progressing(d); cond == nil || cond.Reason != "DeploymentPaused" {
			t.Errorf("Progressing while paused = %+v, want reason DeploymentPaused", cond)
		}
		c.Kubectl("rollout", "resume", "deployment/hello")
		Eventually(t, 30*time.Second, func() error {
			after, err := replicaSetsOf(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			if len(after) != len(before)+1 {
				return fmt.Errorf("%d replica sets after resume, want %d", len(after), len(before)+1)
			}
			return nil
		})
	})

	t.Run("foreground deletion removes dependents first", func(t *testing.T) {
		c.Kubectl("create", "deployment", "fg", "--image=kubetm/hello", "--replicas=2")
		wantPods(t, c, "default", "app=fg", 2, 30*time.Second)
		c.Kubectl("delete", "deployment", "fg", "--cascade=foreground", "--wait=false")
		var d appsv1.Deployment
		if err := getJSON(t, c, &d, "deployment", "fg"); err == nil {
			if d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, "foregroundDeletion") {
				t.Errorf("deployment being deleted in the foreground: deletionTimestamp %v finalizers %v", d.DeletionTimestamp, d.Finalizers)
			}
		}
		Eventually(t, 90*time.Second, func() error {
			if _, err := c.KubectlErr("", "get", "deployment", "fg"); err == nil {
				return fmt.Errorf("deployment fg still there; pods:\n%s", podSummary(t, c, "app=fg"))
			}
			rss, err := replicaSetsOf(t, c, "default", "app=fg")
			if err != nil || len(rss) != 0 {
				return fmt.Errorf("replica sets %d (%v) after the owner went", len(rss), err)
			}
			return nil
		})
	})

	t.Run("object with a vanished owner is collected", func(t *testing.T) {
		c.KubectlIn(`apiVersion: v1
kind: ConfigMap
metadata:
  name: dangling
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: never-existed
    uid: 00000000-0000-0000-0000-000000000001
data: {a: b}
`, "apply", "-f", "-")
		Eventually(t, 30*time.Second, func() error {
			if _, err := c.KubectlErr("", "get", "configmap", "dangling"); err == nil {
				return fmt.Errorf("configmap with a dangling owner still there")
			}
			return nil
		})
	})

	t.Run("delete cascades to replica sets and pods", func(t *testing.T) {
		c.Kubectl("delete", "deployment", "hello", "--wait=false")
		Eventually(t, 60*time.Second, func() error {
			rss, err := replicaSetsOf(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			if len(rss) != 0 {
				return fmt.Errorf("%d replica sets left", len(rss))
			}
			pods, err := livePods(t, c, "default", "app=hello")
			if err != nil {
				return err
			}
			if len(pods) != 0 {
				return fmt.Errorf("%d pods not being deleted", len(pods))
			}
			return nil
		})
	})
}

// TestControllersWorkloads covers namespace deletion, the default
// ServiceAccount, a CronJob, a DaemonSet and a Job. The last two need the
// node agent to run pods.
func TestControllersWorkloads(t *testing.T) {
	c := StartCluster(t)

	t.Run("default service account", func(t *testing.T) {
		c.Kubectl("create", "namespace", "team")
		Eventually(t, 20*time.Second, func() error {
			_, err := c.KubectlErr("", "get", "serviceaccount", "default", "-n", "team")
			return err
		})
	})

	t.Run("delete namespace empties it", func(t *testing.T) {
		c.Kubectl("create", "configmap", "cfg", "-n", "team", "--from-literal=a=b")
		c.Kubectl("create", "deployment", "web", "-n", "team", "--image=kubetm/hello", "--replicas=2")
		wantPods(t, c, "team", "app=web", 2, 30*time.Second)
		c.Kubectl("delete", "namespace", "team", "--wait=false")
		Eventually(t, 90*time.Second, func() error {
			out, err := c.KubectlErr("", "get", "namespace", "team", "-o", "jsonpath={.status.phase}")
			if err != nil && strings.Contains(out+err.Error(), "NotFound") {
				return nil
			}
			return fmt.Errorf("namespace team still there (phase %q)", out)
		})
	})

	t.Run("cronjob every minute", func(t *testing.T) {
		c.Kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "--", "true")
		Eventually(t, 75*time.Second, func() error {
			var l batchv1.JobList
			if err := getJSON(t, c, &l, "jobs"); err != nil {
				return err
			}
			for _, j := range l.Items {
				if strings.HasPrefix(j.Name, "tick-") && len(j.OwnerReferences) == 1 && j.OwnerReferences[0].Name == "tick" {
					return nil
				}
			}
			return fmt.Errorf("no job of cronjob tick yet")
		})
		var cj batchv1.CronJob
		if err := getJSON(t, c, &cj, "cronjob", "tick"); err != nil {
			t.Fatal(err)
		}
		if cj.Status.LastScheduleTime == nil {
			t.Errorf("cronjob status %+v, want lastScheduleTime", cj.Status)
		}
	})

	t.Run("daemonset one pod per node", func(t *testing.T) {
		requireReadyNode(t, c)
		loadBaseImages(t, c)
		c.KubectlIn(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: c
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
`, "apply", "-f", "-")
		wantPods(t, c, "default", "app=agent", 1, 30*time.Second)
		Eventually(t, 60*time.Second, func() error {
			var ds appsv1.DaemonSet
			if err := getJSON(t, c, &ds, "ds", "agent"); err != nil {
				return err
			}
			st := ds.Status
			if st.DesiredNumberScheduled != 1 || st.CurrentNumberScheduled != 1 || st.NumberReady != 1 || st.UpdatedNumberScheduled != 1 {
				return fmt.Errorf("daemonset status %+v, want 1 desired, scheduled, ready, updated; pods:\n%s", st, podSummary(t, c, "app=agent"))
			}
			return nil
		})
		pods, err := livePods(t, c, "default", "app=agent")
		if err != nil || len(pods) != 1 || pods[0].Spec.NodeName != "node1" {
			t.Errorf("daemon pods %v (%v), want one on node1", pods, err)
		}
	})

	t.Run("job completions 5 parallelism 2", func(t *testing.T) {
		requireReadyNode(t, c)
		c.KubectlIn(`apiVersion: batch/v1
kind: Job
metadata:
  name: five
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["true"]
`, "apply", "-f", "-")
		Eventually(t, 30*time.Second, func() error {
			pods, err := livePods(t, c, "default", "job-name=five")
			if err != nil {
				return err
			}
			if len(pods) == 0 {
				return fmt.Errorf("no pods for job five yet")
			}
			return nil
		})
		Eventually(t, 120*time.Second, func() error {
			var j batchv1.Job
			if err := getJSON(t, c, &j, "job", "five"); err != nil {
				return err
			}
			for _, cond := range j.Status.Conditions {
				if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
					if j.Status.Succeeded != 5 {
						return fmt.Errorf("complete with succeeded %d, want 5", j.Status.Succeeded)
					}
					return nil
				}
			}
			return fmt.Errorf("job status %+v; pods:\n%s", j.Status, podSummary(t, c, "job-name=five"))
		})
	})

	t.Run("finished job deleted after ttlSecondsAfterFinished", func(t *testing.T) {
		requireReadyNode(t, c)
		c.KubectlIn(`apiVersion: batch/v1
kind: Job
metadata: {name: brief}
spec:
  ttlSecondsAfterFinished: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["true"]}]
`, "apply", "-f", "-")
		Eventually(t, 90*time.Second, func() error {
			if _, err := c.KubectlErr("", "get", "job", "brief"); err == nil {
				return fmt.Errorf("job brief still there; pods:\n%s", podSummary(t, c, "job-name=brief"))
			}
			return nil
		})
	})
}

// podSummary describes the pods matching selector for failure messages.
func podSummary(t *testing.T, c *Cluster, selector string) string {
	var l corev1.PodList
	if err := getJSON(t, c, &l, "pods", "-l", selector); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range l.Items {
		fmt.Fprintf(&b, "%s node=%q phase=%s conditions=%+v containers=%+v\n", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
	}
	return b.String()
}

// requireReadyNode skips tests whose pods must really run when no node
// is Ready (the node agent isn't there).
func requireReadyNode(t *testing.T, c *Cluster) {
	t.Helper()
	var l corev1.NodeList
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := getJSON(t, c, &l, "nodes"); err == nil {
			for _, n := range l.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						return
					}
				}
			}
		}
		time.Sleep(time.Second)
	}
	t.Skip("no Ready node: this needs the node agent")
}

// TestControllersStatefulSetAndRC checks a ReplicationController, and a
// StatefulSet's stable names and per-pod claims with Parallel pod
// management (objects only, so it needs no running pods).
func TestControllersStatefulSetAndRC(t *testing.T) {
	c := StartCluster(t)
	c.KubectlIn(`apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]}
`, "apply", "-f", "-")
	wantPods(t, c, "default", "app=legacy", 2, 30*time.Second)
	c.Kubectl("scale", "rc", "legacy", "--replicas=4")
	wantPods(t, c, "default", "app=legacy", 4, 30*time.Second)
	Eventually(t, 30*time.Second, func() error {
		var rc corev1.ReplicationController
		if err := getJSON(t, c, &rc, "rc", "legacy"); err != nil {
			return err
		}
		if rc.Status.Replicas != 4 || rc.Status.ObservedGeneration != rc.Generation {
			return fmt.Errorf("rc status %+v, want 4 replicas at generation %d", rc.Status, rc.Generation)
		}
		return nil
	})

	c.KubectlIn(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Mi}}
`, "apply", "-f", "-")
	Eventually(t, 30*time.Second, func() error {
		for i := 0; i < 3; i++ {
			var p corev1.Pod
			if err := getJSON(t, c, &p, "pod", fmt.Sprintf("db-%d", i)); err != nil {
				return err
			}
			if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "db" {
				return fmt.Errorf("pod %s hostname %q subdomain %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
			}
			if _, err := c.KubectlErr("", "get", "pvc", fmt.Sprintf("data-db-%d", i)); err != nil {
				return fmt.Errorf("claim data-db-%d: %v", i, err)
			}
		}
		return nil
	})
	c.Kubectl("scale", "statefulset", "db", "--replicas=1")
	wantPods(t, c, "default", "app=db", 1, 60*time.Second)
	if _, err := c.KubectlErr("", "get", "pod", "db-0"); err != nil {
		t.Errorf("db-0 gone after scaling to 1: %v", err)
	}
	if _, err := c.KubectlErr("", "get", "pvc", "data-db-2"); err != nil {
		t.Errorf("claim data-db-2 deleted with its pod; claims are retained: %v", err)
	}

	t.Run("OrderedReady with running pods", func(t *testing.T) {
		requireReadyNode(t, c)
		loadBaseImages(t, c)
		c.KubectlIn(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ordered}
spec:
  serviceName: ordered
  replicas: 2
  selector: {matchLabels: {app: ordered}}
  template:
    metadata: {labels: {app: ordered}}
    spec: {containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]}
`, "apply", "-f", "-")
		Eventually(t, 90*time.Second, func() error {
			var sts appsv1.StatefulSet
			if err := getJSON(t, c, &sts, "statefulset", "ordered"); err != nil {
				return err
			}
			if sts.Status.ReadyReplicas != 2 || sts.Status.CurrentRevision == "" || sts.Status.CurrentRevision != sts.Status.UpdateRevision {
				return fmt.Errorf("status %+v; pods:\n%s", sts.Status, podSummary(t, c, "app=ordered"))
			}
			return nil
		})
		var p0, p1 corev1.Pod
		if err := getJSON(t, c, &p0, "pod", "ordered-0"); err != nil {
			t.Fatal(err)
		}
		if err := getJSON(t, c, &p1, "pod", "ordered-1"); err != nil {
			t.Fatal(err)
		}
		if !p0.CreationTimestamp.Before(&p1.CreationTimestamp) && !p0.CreationTimestamp.Equal(&p1.CreationTimestamp) {
			t.Errorf("ordered-1 created at %v before ordered-0 at %v", p1.CreationTimestamp, p0.CreationTimestamp)
		}
	})
}

// TestControllersBadInput checks that invalid workloads are refused with
// upstream's messages (from the API server's validation).
func TestControllersBadInput(t *testing.T) {
	c := StartCluster(t)
	tests := []struct {
		name     string
		manifest string
		want     string
	}{
		{"negative replicas", `apiVersion: apps/v1
kind: Deployment
metadata: {name: neg}
spec:
  replicas: -1
  selector: {matchLabels: {app: neg}}
  template:
    metadata: {labels: {app: neg}}
    spec: {containers: [{name: c, image: busybox}]}
`, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		{"selector does not match template", `apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatch}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: busybox}]}
`, "`selector` does not match template `labels`"},
		{"invalid cron schedule", `apiVersion: batch/v1
kind: CronJob
metadata: {name: badcron}
spec:
  schedule: "not a schedule"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
`, "spec.schedule: Invalid value: \"not a schedule\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.KubectlErr(tc.manifest, "apply", "-f", "-")
			if err == nil {
				t.Fatalf("apply succeeded: %s", out)
			}
			if !strings.Contains(out+err.Error(), tc.want) {
				t.Errorf("apply error %q, want it to contain %q", out+err.Error(), tc.want)
			}
		})
	}
}
