// Command svcbench measures a running berth's Service path from the node's
// network namespace (bench/services/run.sh starts the cluster and the
// workloads, then runs this inside the namespace):
//
//   - ready -> traffic: time from the watch event that shows a pod Ready to
//     the first HTTP answer through its Service's ClusterIP (p50/p99);
//   - requests/s through the ClusterIP vs straight to the pod IP, rounds
//     interleaved in the same run (new connection per request, so each one
//     pays for conntrack and NAT);
//   - cluster DNS queries/s and p50/p99 latency (UDP, via the DNS ClusterIP).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	readyRuns := flag.Int("ready-runs", 10, "ready->traffic samples")
	dur := flag.Duration("duration", 5*time.Second, "length of each throughput round")
	conc := flag.Int("concurrency", 8, "parallel clients")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	check(err)
	kube, err := kubernetes.NewForConfig(cfg)
	check(err)
	ctx := context.Background()

	readyLatency(ctx, kube, *readyRuns)
	throughput(ctx, kube, *dur, *conc)
	dnsBench(*dur, *conc)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[int(float64(len(ds)-1)*p)]
}

// readyLatency flips the readiness of the single bench-rdy pod: its probe
// passes while /tmp/ready exists.
func readyLatency(ctx context.Context, kube kubernetes.Interface, runs int) {
	svc, err := kube.CoreV1().Services("default").Get(ctx, "bench-rdy", metav1.GetOptions{})
	check(err)
	pods, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench-rdy"})
	check(err)
	if len(pods.Items) != 1 {
		check(fmt.Errorf("want 1 bench-rdy pod, have %d", len(pods.Items)))
	}
	pod := pods.Items[0].Name
	url := "http://" + svc.Spec.ClusterIP + ":80/"
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ok := func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	var lat []time.Duration
	for range runs {
		inPod(pod, "rm", "-f", "/tmp/ready")
		for ok() {
			time.Sleep(20 * time.Millisecond)
		}
		w, err := kube.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod})
		check(err)
		inPod(pod, "touch", "/tmp/ready")
		var t0 time.Time
		for ev := range w.ResultChan() {
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ready(p) {
				t0 = time.Now()
				break
			}
		}
		w.Stop()
		for !ok() {
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	fmt.Printf("ready->traffic via ClusterIP: runs=%d p50=%s p99=%s\n", runs, pct(lat, .5).Round(time.Millisecond), pct(lat, .99).Round(time.Millisecond))
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// inPod runs a command in the pod's container with the real docker CLI
// (DOCKER_HOST points at the node's engine).
func inPod(pod string, args ...string) {
	id, err := exec.Command("docker", "ps", "-q", "--filter", "name=k8s_c_"+pod+"_default_").Output()
	check(err)
	out, err := exec.Command("docker", append([]string{"exec", strings.TrimSpace(string(id))}, args...)...).CombinedOutput()
	if err != nil {
		check(fmt.Errorf("docker exec %v: %v %s", args, err, out))
	}
}

// throughput compares requests/s through bench-http's ClusterIP and to its
// pod IP directly, alternating rounds.
func throughput(ctx context.Context, kube kubernetes.Interface, d time.Duration, conc int) {
	svc, err := kube.CoreV1().Services("default").Get(ctx, "bench-http", metav1.GetOptions{})
	check(err)
	pods, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench-http"})
	check(err)
	if len(pods.Items) != 1 {
		check(fmt.Errorf("want 1 bench-http pod, have %d", len(pods.Items)))
	}
	targets := map[string]string{
		"pod IP":    "http://" + pods.Items[0].Status.PodIP + ":8000/",
		"ClusterIP": "http://" + svc.Spec.ClusterIP + ":80/",
	}
	// Rounds alternate which path goes first, so a drifting machine does
	// not favour one of them.
	const rounds = 4
	total := map[string]float64{}
	for i := range rounds {
		order := []string{"pod IP", "ClusterIP"}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			total[name] += load(targets[name], d, conc)
		}
	}
	direct, viaSvc := total["pod IP"]/rounds, total["ClusterIP"]/rounds
	fmt.Printf("requests/s (new connection each, %d clients, %dx%s, alternating order): pod IP=%.0f ClusterIP=%.0f ratio=%.2f\n",
		conc, rounds, d, direct, viaSvc, viaSvc/direct)
}

func load(url string, d time.Duration, conc int) float64 {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var n, fails atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err != nil {
					fails.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body) // drain for a clean close; the count is what matters
				resp.Body.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if f := fails.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d failed requests\n", url, f)
	}
	return float64(n.Load()) / d.Seconds()
}

// dnsBench asks the cluster DNS for a Service's A record over UDP.
func dnsBench(d time.Duration, conc int) {
	const server = "10.96.0.10:53"
	q := new(dns.Msg).SetQuestion("bench-http.default.svc.cluster.local.", dns.TypeA)
	var mu sync.Mutex
	var lat []time.Duration
	var fails atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			conn, err := c.Dial(server)
			if err != nil {
				fails.Add(1)
				return
			}
			defer conn.Close()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				r, rtt, err := c.ExchangeWithConn(q.Copy(), conn)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					fails.Add(1)
					continue
				}
				mine = append(mine, rtt)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(lat) == 0 {
		check(errors.New("dns: no successful query"))
	}
	fmt.Printf("cluster DNS (UDP, %d clients, %s): qps=%.0f p50=%s p99=%s failures=%d\n", conc, d,
		float64(len(lat))/d.Seconds(), pct(lat, .5).Round(time.Microsecond), pct(lat, .99).Round(time.Microsecond), fails.Load())
}
