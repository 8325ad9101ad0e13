// Command controllers-bench measures the workload controllers on a running
// berth with simulated nodes (`berth agent --simulate`), next to a
// same-run baseline that bypasses them:
//
//	baseline  N bare pods created straight through the API (10 at a time)
//	          until all are Running: API server, scheduler and node only
//	scale     a Deployment scaled 0 -> N: until all its pods are Running,
//	          and until the ReplicaSet's status says N ready
//	rollout   a rolling update of those N pods (25% surge/unavailable)
//	          until the Deployment reports it complete
//
// bench/controllers/run.sh starts berth in a network namespace of its own
// and runs this inside it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig")
	n := flag.Int("n", 100, "pods")
	flag.Parse()
	if err := run(*kubeconfig, *n); err != nil {
		fmt.Fprintln(os.Stderr, "controllers-bench:", err)
		os.Exit(1)
	}
}

const poll = 50 * time.Millisecond

func run(kubeconfig string, n int) error {
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	base, err := baseline(ctx, client, n)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	fmt.Printf("baseline: %d bare pods created -> Running: %.2f s\n", n, base.Seconds())

	running, ready, err := scale(ctx, client, n)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	fmt.Printf("deployment 0 -> %d: all pods Running %.2f s (x%.2f of baseline), ReplicaSet status %d ready %.2f s\n",
		n, running.Seconds(), running.Seconds()/base.Seconds(), n, ready.Seconds())

	roll, err := rollout(ctx, client, n)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	fmt.Printf("rolling update of %d pods (maxSurge 25%%, maxUnavailable 25%%): complete in %.2f s (x%.2f of baseline)\n",
		n, roll.Seconds(), roll.Seconds()/base.Seconds())
	return nil
}

func countRunning(ctx context.Context, client kubernetes.Interface, selector string) (int, error) {
	l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range l.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

// waitFor polls cond until it holds, for at most 5 minutes.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(poll)
	}
	return fmt.Errorf("timed out")
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}}
}

func baseline(ctx context.Context, client kubernetes.Interface, n int) (time.Duration, error) {
	start := time.Now()
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bare-%d", i), Labels: map[string]string{"bench": "bare"}}, Spec: podSpec()}
			if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	err := waitFor(ctx, func() (bool, error) {
		c, err := countRunning(ctx, client, "bench=bare")
		return c == n, err
	})
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	zero := int64(0)
	if err := client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{LabelSelector: "bench=bare"}); err != nil {
		return 0, err
	}
	return took, nil
}

func scale(ctx context.Context, client kubernetes.Interface, n int) (running, ready time.Duration, err error) {
	zero := int32(0)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}}, Spec: podSpec()},
		},
	}
	deps := client.AppsV1().Deployments("default")
	if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, 0, err
	}
	// Wait for the empty ReplicaSet so the scale measures scaling only.
	if err := waitFor(ctx, func() (bool, error) {
		l, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench"})
		return err == nil && len(l.Items) == 1, err
	}); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := deps.Patch(ctx, "bench", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return 0, 0, err
	}
	var wg sync.WaitGroup
	var runErr, readyErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		runErr = waitFor(ctx, func() (bool, error) {
			c, err := countRunning(ctx, client, "app=bench")
			return c == n, err
		})
		running = time.Since(start)
	}()
	go func() {
		defer wg.Done()
		readyErr = waitFor(ctx, func() (bool, error) {
			l, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench"})
			return err == nil && len(l.Items) == 1 && int(l.Items[0].Status.ReadyReplicas) == n, err
		})
		ready = time.Since(start)
	}()
	wg.Wait()
	if runErr != nil {
		return 0, 0, runErr
	}
	return running, ready, readyErr
}

func rollout(ctx context.Context, client kubernetes.Interface, n int) (time.Duration, error) {
	deps := client.AppsV1().Deployments("default")
	start := time.Now()
	patch := `{"spec":{"template":{"metadata":{"annotations":{"bench/rev":"2"}}}}}`
	d, err := deps.Patch(ctx, "bench", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return 0, err
	}
	gen := d.Generation
	err = waitFor(ctx, func() (bool, error) {
		d, err := deps.Get(ctx, "bench", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := d.Status
		return st.ObservedGeneration >= gen && int(st.UpdatedReplicas) == n && int(st.Replicas) == n && int(st.AvailableReplicas) == n, nil
	})
	return time.Since(start), err
}
