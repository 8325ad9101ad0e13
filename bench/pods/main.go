// Command pods-bench measures pods on a running berth, next to the
// engine's own container start in the same run:
//
//	floor     Docker API create+start of busybox `sleep` with no network
//	          (the engine path every pod container takes)
//	startup   create -> Running as seen by a watch, sequential pods (p50/p99)
//	burst     pods started per second when N are created at once
//	exec      `kubectl exec POD -- true` round trip (median), next to
//	          `docker exec CONTAINER true`
//
// bench/pods/run.sh starts berth in a network namespace of its own and runs
// this inside it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig")
	dockerSock := flag.String("docker-socket", "", "berth's Docker API socket")
	n := flag.Int("n", 100, "sequential pods")
	burst := flag.Int("burst", 30, "pods created at once")
	execRuns := flag.Int("exec", 20, "exec round trips")
	flag.Parse()
	if err := run(*kubeconfig, *dockerSock, *n, *burst, *execRuns); err != nil {
		fmt.Fprintln(os.Stderr, "pods-bench:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, sock string, n, burst, execRuns int) error {
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
	docker := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}

	floor, ids, err := engineFloor(ctx, docker, 20)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	fmt.Printf("engine floor (create+start, no network), %d runs: p50 %s p99 %s\n", len(floor), pct(floor, 50), pct(floor, 99))

	w := newWatcher(ctx, client)
	defer w.stop()
	var seq []time.Duration
	for i := range n {
		d, err := w.startPod(ctx, fmt.Sprintf("seq-%d", i))
		if err != nil {
			return err
		}
		seq = append(seq, d)
	}
	fmt.Printf("pod startup (create -> Running via watch), %d sequential: p50 %s p99 %s  (x floor p50: %.1f)\n",
		len(seq), pct(seq, 50), pct(seq, 99), float64(pct(seq, 50))/float64(pct(floor, 50)))
	fmt.Printf("  of which create -> bound (scheduler): p50 %s p99 %s\n", pct(w.schedule, 50), pct(w.schedule, 99))
	if err := deleteAll(ctx, client, w); err != nil {
		return err
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for i := range burst {
		wg.Go(func() {
			if _, err := w.startPod(ctx, fmt.Sprintf("burst-%d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Printf("burst: %d pods Running in %s = %.1f pods/s\n", burst, took.Round(time.Millisecond), float64(burst)/took.Seconds())

	var kexec, dexec []time.Duration
	for range execRuns {
		t := time.Now()
		if out, err := exec.Command("kubectl", "exec", "burst-0", "--", "true").CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl exec: %v: %s", err, out)
		}
		kexec = append(kexec, time.Since(t))
		t = time.Now()
		if out, err := exec.Command("docker", "-H", "unix://"+sock, "exec", ids[0], "true").CombinedOutput(); err != nil {
			return fmt.Errorf("docker exec: %v: %s", err, out)
		}
		dexec = append(dexec, time.Since(t))
	}
	fmt.Printf("exec round trip, %d runs: kubectl exec p50 %s, docker exec p50 %s\n", execRuns, pct(kexec, 50), pct(dexec, 50))
	for _, id := range ids {
		dockerDo(ctx, docker, "DELETE", "/containers/"+id+"?force=true", nil, nil)
	}
	return deleteAll(ctx, client, w)
}

// engineFloor creates and starts busybox sleep containers through the
// Docker API and returns each create+start time and the IDs (kept running
// for docker exec).
func engineFloor(ctx context.Context, c *http.Client, runs int) ([]time.Duration, []string, error) {
	var out []time.Duration
	var ids []string
	for range runs {
		t := time.Now()
		var created struct{ Id string }
		body := map[string]any{"Image": "busybox", "Cmd": []string{"sleep", "3600"}, "HostConfig": map[string]any{"NetworkMode": "none"}}
		if err := dockerDo(ctx, c, "POST", "/containers/create", body, &created); err != nil {
			return nil, nil, err
		}
		if err := dockerDo(ctx, c, "POST", "/containers/"+created.Id+"/start", nil, nil); err != nil {
			return nil, nil, err
		}
		out = append(out, time.Since(t))
		ids = append(ids, created.Id)
	}
	return out, ids, nil
}

func dockerDo(ctx context.Context, c *http.Client, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, e.Message)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// watcher reports the moment each pod is first seen Running.
type watcher struct {
	client kubernetes.Interface
	w      watch.Interface
	mu     sync.Mutex
	wait   map[string]chan struct{}
	gone   map[string]chan struct{}
	bound  map[string]time.Time // first seen with spec.nodeName
	// schedule holds create -> bound of each pod started.
	schedule []time.Duration
}

func newWatcher(ctx context.Context, client kubernetes.Interface) *watcher {
	w := &watcher{client: client, wait: map[string]chan struct{}{}, gone: map[string]chan struct{}{}, bound: map[string]time.Time{}}
	wi, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "bench=pods"})
	if err != nil {
		panic(err)
	}
	w.w = wi
	go func() {
		for ev := range wi.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			if _, seen := w.bound[p.Name]; !seen && p.Spec.NodeName != "" {
				w.bound[p.Name] = time.Now()
			}
			if ev.Type == watch.Deleted {
				if ch := w.gone[p.Name]; ch != nil {
					close(ch)
					delete(w.gone, p.Name)
				}
			} else if ch := w.wait[p.Name]; ch != nil && isRunning(p) {
				close(ch)
				delete(w.wait, p.Name)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *watcher) stop() { w.w.Stop() }

func isRunning(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil {
			return false
		}
	}
	return true
}

func (w *watcher) startPod(ctx context.Context, name string) (time.Duration, error) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.wait[name] = ch
	w.mu.Unlock()
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "pods"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"}}},
		},
	}
	t := time.Now()
	if _, err := w.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("create %s: %w", name, err)
	}
	select {
	case <-ch:
		d := time.Since(t)
		w.mu.Lock()
		w.schedule = append(w.schedule, w.bound[name].Sub(t))
		w.mu.Unlock()
		return d, nil
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("pod %s not Running after 2 minutes", name)
	}
}

func deleteAll(ctx context.Context, client kubernetes.Interface, w *watcher) error {
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "bench=pods"})
	if err != nil {
		return err
	}
	var chans []chan struct{}
	w.mu.Lock()
	for _, p := range pods.Items {
		ch := make(chan struct{})
		w.gone[p.Name] = ch
		chans = append(chans, ch)
	}
	w.mu.Unlock()
	zero := int64(0)
	for _, p := range pods.Items {
		if err := client.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			return err
		}
	}
	for _, ch := range chans {
		select {
		case <-ch:
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("pods not gone after 2 minutes")
		}
	}
	return nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(100 * time.Microsecond)
}
