// Command api benchmarks berth's API server: time to /readyz, idle RSS,
// ConfigMap create/get/list latency (sequential over one connection and 16
// clients at once), a list of all objects, and watch delivery latency to
// 100 watchers. Each figure is printed beside its floor measured in the
// same run: the same operations as raw etcd requests through the etcd
// client against berth's own embedded etcd.
//
//	go run ./bench/api -berth ./bin/berth [-n 10000]
//
// It starts `berth server` on 127.0.0.1 with a fresh data dir and stops it
// (by PID) at the end; all traffic stays on loopback.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	berthBin = flag.String("berth", "./bin/berth", "berth binary")
	n        = flag.Int("n", 10000, "objects per create/get phase")
	clients  = flag.Int("clients", 16, "concurrent clients")
	watchers = flag.Int("watchers", 100, "watchers")
	events   = flag.Int("events", 200, "objects created while watched")
	port     = flag.Int("port", 16543, "API server port")
)

// server is the berth under test; fatal stops it before exiting.
var (
	server  *exec.Cmd
	dataDir string
)

func fatal(v ...any) { fatalf("%s", fmt.Sprint(v...)) }

func fatalf(format string, a ...any) {
	if server != nil {
		stop(server)
	}
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
	log.Fatalf(format, a...)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "berth-bench-api-")
	if err != nil {
		fatal(err)
	}
	dataDir = dir
	defer os.RemoveAll(dir)

	cmd, ready := start(dir)
	server = cmd
	defer stop(cmd)
	fmt.Printf("berth server: /readyz ok %.0f ms after start\n", ready.Seconds()*1000)
	time.Sleep(5 * time.Second)
	fmt.Printf("idle RSS: %s\n", rss(cmd.Process.Pid))

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	cs := kubernetes.NewForConfigOrDie(cfg)
	etcd := etcdClient(dir)
	defer etcd.Close()
	ctx := context.Background()
	for _, ns := range []string{"bench-seq", "bench-par", "bench-watch"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			fatal(err)
		}
	}
	value := make([]byte, 200) // about a stored small ConfigMap
	for i := range value {
		value[i] = 'x'
	}
	fmt.Printf("\n%-34s %28s %28s %7s\n", "operation", "berth p50 / p99 / rate", "raw etcd p50 / p99 / rate", "p50 x")
	row := func(name string, b, e result) {
		fmt.Printf("%-34s %28s %28s %7.1f\n", name, b, e, float64(b.p(50))/float64(max(e.p(50), 1)))
	}

	// Sequential, one connection.
	bc := run(1, *n, func(_ int, i int) error {
		_, err := cs.CoreV1().ConfigMaps("bench-seq").Create(ctx, configMap(i), metav1.CreateOptions{})
		return err
	})
	ec := run(1, *n, func(_ int, i int) error { return etcdCreate(ctx, etcd, "/bench/seq/", i, value) })
	row(fmt.Sprintf("create x%d sequential", *n), bc, ec)
	bg := run(1, *n, func(_ int, i int) error {
		_, err := cs.CoreV1().ConfigMaps("bench-seq").Get(ctx, fmt.Sprintf("cm-%d", i), metav1.GetOptions{})
		return err
	})
	eg := run(1, *n, func(_ int, i int) error {
		_, err := etcd.Get(ctx, fmt.Sprintf("/bench/seq/%d", i))
		return err
	})
	row(fmt.Sprintf("get x%d sequential", *n), bg, eg)
	bl := run(1, 5, func(int, int) error {
		l, err := cs.CoreV1().ConfigMaps("bench-seq").List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) < *n { // plus kube-root-ca.crt, if a controller made it
			err = fmt.Errorf("list: %d items", len(l.Items))
		}
		return err
	})
	el := run(1, 5, func(int, int) error {
		_, err := etcd.Get(ctx, "/bench/seq/", clientv3.WithPrefix())
		return err
	})
	row(fmt.Sprintf("list of %d", *n), bl, el)

	// Concurrent clients, each with a connection of its own.
	css := make([]*kubernetes.Clientset, *clients)
	ecs := make([]*clientv3.Client, *clients)
	for i := range css {
		c := rest.CopyConfig(cfg)
		c.Dial = (&net.Dialer{}).DialContext // an uncacheable transport: one connection per client
		css[i] = kubernetes.NewForConfigOrDie(c)
		ecs[i] = etcdClient(dir)
		defer ecs[i].Close()
	}
	bc = run(*clients, *n, func(w, i int) error {
		_, err := css[w].CoreV1().ConfigMaps("bench-par").Create(ctx, configMap(i), metav1.CreateOptions{})
		return err
	})
	ec = run(*clients, *n, func(w, i int) error { return etcdCreate(ctx, ecs[w], "/bench/par/", i, value) })
	row(fmt.Sprintf("create x%d, %d clients", *n, *clients), bc, ec)
	bg = run(*clients, *n, func(w, i int) error {
		_, err := css[w].CoreV1().ConfigMaps("bench-par").Get(ctx, fmt.Sprintf("cm-%d", i), metav1.GetOptions{})
		return err
	})
	eg = run(*clients, *n, func(w, i int) error {
		_, err := ecs[w].Get(ctx, fmt.Sprintf("/bench/par/%d", i))
		return err
	})
	row(fmt.Sprintf("get x%d, %d clients", *n, *clients), bg, eg)

	row(fmt.Sprintf("watch delivery, %d watchers", *watchers), berthWatch(ctx, cs), etcdWatch(ctx, etcd, value))
	fmt.Printf("\nRSS after the run: %s\n", rss(cmd.Process.Pid))
}

func configMap(i int) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)},
		Data: map[string]string{"key": strings.Repeat("x", 100)}}
}

// etcdCreate is the raw form of a create: a put only if the key is absent.
func etcdCreate(ctx context.Context, c *clientv3.Client, prefix string, i int, value []byte) error {
	key := prefix + strconv.Itoa(i)
	_, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(value))).Commit()
	return err
}

// result is a set of latencies and the wall time they took.
type result struct {
	lat  []time.Duration
	wall time.Duration
}

func (r result) p(q int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, len(r.lat)*q/100)]
}

func (r result) String() string {
	rate := ""
	if r.wall > 0 {
		rate = fmt.Sprintf(" / %.0f/s", float64(len(r.lat))/r.wall.Seconds())
	}
	return fmt.Sprintf("%s / %s%s", ms(r.p(50)), ms(r.p(99)), rate)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// run calls op count times from workers goroutines and times each call.
func run(workers, count int, op func(worker, i int) error) result {
	next := make(chan int)
	lat := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := time.Now()
				if err := op(w, i); err != nil {
					fatalf("op %d: %v", i, err)
				}
				lat[w] = append(lat[w], time.Since(s))
			}
		}()
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
	r := result{wall: time.Since(t0), lat: slices.Concat(lat...)}
	slices.Sort(r.lat)
	return r
}

// deliveries measures, for each of events objects written one by one,
// the time from the write call to its arrival at each watcher.
type deliveries struct {
	mu   sync.Mutex
	sent map[string]time.Time
	lat  []time.Duration
	got  sync.WaitGroup
}

func (d *deliveries) arrived(name string) {
	now := time.Now()
	d.mu.Lock()
	if t, ok := d.sent[name]; ok {
		d.lat = append(d.lat, now.Sub(t))
		d.got.Done()
	}
	d.mu.Unlock()
}

func (d *deliveries) write(ctx context.Context, do func(i int, name string) error) result {
	d.got.Add(*events * *watchers)
	for i := range *events {
		name := fmt.Sprintf("w-%d", i)
		d.mu.Lock()
		d.sent[name] = time.Now()
		d.mu.Unlock()
		if err := do(i, name); err != nil {
			fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { d.got.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		fatalf("watchers got %d of %d events", len(d.lat), *events**watchers)
	}
	r := result{lat: d.lat}
	slices.Sort(r.lat)
	return r
}

func berthWatch(ctx context.Context, cs *kubernetes.Clientset) result {
	d := &deliveries{sent: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range *watchers {
		w, err := cs.CoreV1().ConfigMaps("bench-watch").Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			fatal(err)
		}
		go func() {
			for ev := range w.ResultChan() {
				if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
					d.arrived(cm.Name)
				}
			}
		}()
	}
	return d.write(ctx, func(i int, name string) error {
		cm := configMap(i)
		cm.Name = name
		_, err := cs.CoreV1().ConfigMaps("bench-watch").Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
}

func etcdWatch(ctx context.Context, c *clientv3.Client, value []byte) result {
	d := &deliveries{sent: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range *watchers {
		wch := c.Watch(ctx, "/bench/watch/", clientv3.WithPrefix())
		go func() {
			for resp := range wch {
				for _, ev := range resp.Events {
					d.arrived(strings.TrimPrefix(string(ev.Kv.Key), "/bench/watch/"))
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // etcd watches start asynchronously
	return d.write(ctx, func(i int, name string) error {
		_, err := c.Put(ctx, "/bench/watch/"+name, string(value))
		return err
	})
}

func start(dir string) (*exec.Cmd, time.Duration) {
	logf, err := os.Create(filepath.Join(dir, "berth.log"))
	if err != nil {
		fatal(err)
	}
	cmd := exec.Command(*berthBin, "server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--https-port", strconv.Itoa(*port), "--registry-port", strconv.Itoa(*port+1))
	cmd.Stdout, cmd.Stderr = logf, logf
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	server = cmd
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", *port)
	for time.Since(t0) < 60*time.Second {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, time.Since(t0)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	fatal("berth not ready after 60s")
	return nil, 0
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// rss reports the process's resident set and how much of it is anonymous
// memory (heaps), file pages of the binary, and etcd's mmapped database.
func rss(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	vals := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 {
			vals[strings.TrimSuffix(fs[0], ":")], _ = strconv.Atoi(fs[1])
		}
	}
	return fmt.Sprintf("%.1f MB (anonymous %.1f MB, file-backed %.1f MB: the berth binary's pages and etcd's mmapped db)",
		float64(vals["Rss"])/1024, float64(vals["Pss_Anon"])/1024, float64(vals["Pss_File"])/1024)
}

func etcdClient(dir string) *clientv3.Client {
	b, err := os.ReadFile(filepath.Join(dir, "etcd", "ports.json"))
	if err != nil {
		fatal(err)
	}
	var p struct{ Client int }
	if err := json.Unmarshal(b, &p); err != nil {
		fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("127.0.0.1:%d", p.Client)}, DialTimeout: 5 * time.Second})
	if err != nil {
		fatal(err)
	}
	return c
}
