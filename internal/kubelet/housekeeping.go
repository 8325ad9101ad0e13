package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// housekeeping starts workers for containers and pod directories whose pod
// has no worker (left by a kubelet that stopped, or a pod deleted while it
// was down), so they are adopted or cleaned up. It runs every 10 s.
func (k *Kubelet) housekeeping(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		k.adoptOrphans(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *Kubelet) adoptOrphans(ctx context.Context) {
	uids := map[types.UID]*corev1.Pod{}
	all, err := k.rt.ListContainers(ctx, map[string]string{LabelManaged: "true"})
	if err != nil {
		k.log.Warn("housekeeping: list containers", "err", err)
		return
	}
	for _, c := range all {
		uid := types.UID(c.Labels[LabelPodUID])
		uids[uid] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid, Name: c.Labels[LabelPodName], Namespace: c.Labels[LabelPodNamespace]}}
	}
	entries, _ := os.ReadDir(filepath.Join(StateDir(k.cfg.DataDir), "pods")) // none before the first pod
	for _, e := range entries {
		uid := types.UID(e.Name())
		if _, ok := uids[uid]; !ok {
			uids[uid] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}}
		}
	}
	pods, _ := k.pods.List(labels.Everything()) // the lister never fails
	live := map[types.UID]bool{}
	for _, p := range pods {
		live[p.UID] = true
	}
	for uid, stub := range uids {
		if live[uid] {
			continue
		}
		k.mu.Lock()
		_, has := k.workers[uid]
		if !has {
			// A worker for a pod that no longer exists terminates at once.
			w := newPodWorker(k, stub)
			k.workers[uid] = w
			go w.run(ctx)
			w.kick()
		}
		k.mu.Unlock()
	}
}

// removePodCgroups removes a pod's (empty) cgroup in every v1 hierarchy,
// under whichever QoS class it was created.
func removePodCgroups(root string, uid types.UID) {
	for _, qos := range []string{"", "/burstable", "/besteffort"} {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + root + qos + "/pod" + string(uid)) // no match when nothing was made
		for _, d := range dirs {
			os.Remove(d) // fails only while a process still lives in it; reset retries
		}
	}
}

// serviceEnv is the Docker-links style variables for the Services of the
// pod's namespace (and the master service), as upstream's getServiceEnvVarMap.
func (k *Kubelet) serviceEnv(pod *corev1.Pod) []string {
	if k.services == nil {
		return nil
	}
	var svcs []*corev1.Service
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if links {
		svcs, _ = k.services.Services(pod.Namespace).List(labels.Everything()) // lister reads never fail
	}
	// The master service is always there, even without service links:
	// in-cluster clients find the API server by KUBERNETES_SERVICE_HOST.
	if pod.Namespace != metav1.NamespaceDefault || !links {
		if s, err := k.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			svcs = append(svcs, s)
		}
	}
	var out []string
	for _, s := range svcs {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		ip := s.Spec.ClusterIP
		first := s.Spec.Ports[0]
		out = append(out, name+"_SERVICE_HOST="+ip, name+"_SERVICE_PORT="+strconv.Itoa(int(first.Port)))
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))+"="+strconv.Itoa(int(p.Port)))
			}
		}
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, fmt.Sprintf("%s_PORT=%s://%s:%d", name, proto, ip, first.Port))
		for _, p := range s.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			pfx := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(pr))
			out = append(out, fmt.Sprintf("%s=%s://%s:%d", pfx, pr, ip, p.Port), pfx+"_PROTO="+pr, pfx+"_PORT="+strconv.Itoa(int(p.Port)), pfx+"_ADDR="+ip)
		}
	}
	return out
}

// tokenCache holds bound service account tokens until 80% of their life
// has passed, when upstream's token manager asks for a new one.
type tokenCache struct {
	client  kubernetes.Interface
	mu      sync.Mutex
	entries map[string]tokenEntry
}

type tokenEntry struct {
	token   string
	refresh time.Time
}

func (t *tokenCache) token(ctx context.Context, pod *corev1.Pod, sa string, src *corev1.ServiceAccountTokenProjection) (string, error) {
	key := string(pod.UID) + "/" + src.Path + "/" + src.Audience
	t.mu.Lock()
	e, ok := t.entries[key]
	t.mu.Unlock()
	if ok && time.Now().Before(e.refresh) {
		return e.token, nil
	}
	exp := int64(3607)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := t.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", pod.Namespace, sa, err)
	}
	t.mu.Lock()
	now := time.Now()
	t.entries[key] = tokenEntry{token: tr.Status.Token, refresh: now.Add(tr.Status.ExpirationTimestamp.Sub(now) * 4 / 5)}
	t.mu.Unlock()
	return tr.Status.Token, nil
}

// forget drops the tokens of a pod that is gone.
func (t *tokenCache) forget(podUID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range t.entries {
		if strings.HasPrefix(key, podUID+"/") {
			delete(t.entries, key)
		}
	}
}
