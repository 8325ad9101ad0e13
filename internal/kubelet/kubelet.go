// Package kubelet is berth's node agent: it registers the Node, keeps its
// Lease and status fresh, runs the pods bound to it on the container
// engine (one level-triggered worker per pod), serves logs, exec, attach,
// port-forward and stats over HTTPS to the API server, and reports pod
// status like upstream's kubelet (pkg/kubelet, pkg/kubelet/kuberuntime,
// pkg/kubelet/status/generate.go are the semantics it follows).
//
// Pod sandbox: no pause container. A pod's network, IPC and UTS
// namespaces are created by the kubelet and pinned with bind mounts under
// DATA_DIR/kubelet, and every container of the pod joins them by path. The
// PID namespace stays per container, as upstream's default.
//
// It talks to the API server only through client-go, and to the engine
// through the Runtime interface it declares. It must not import the
// engine, the API server or controllers.
package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/berth-dev/berth/internal/network"
)

// Labels the kubelet puts on every container it creates (upstream's names,
// so `docker ps` shows familiar ones); adoption after a restart finds
// containers by them.
const (
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelContainerName = "io.kubernetes.container.name"
	LabelRestartCount  = "io.kubernetes.container.restartCount"
	LabelManaged       = "berth.dev/kubelet"
)

// BridgeName is the pod network's Linux bridge.
const BridgeName = "cni-berth0"

// Config configures a Kubelet.
type Config struct {
	NodeName string
	NodeIP   string
	// DataDir is DATA_DIR; the kubelet keeps its state in DATA_DIR/kubelet.
	DataDir string
	// Port is where the HTTPS server for the API server listens (10250).
	Port          int
	ClusterDNS    string // e.g. 10.96.0.10
	ClusterDomain string // e.g. cluster.local
	ClusterCIDR   netip.Prefix
	ServiceCIDR   netip.Prefix
	// CgroupRoot is the cgroupfs parent of pod cgroups, e.g. "/berth-1a2b/kubepods".
	CgroupRoot string
	// ClientCA (PEM) signs the client certificate the API server presents
	// when it proxies logs/exec/port-forward here.
	ClientCA []byte
	Runtime  Runtime
	Client   kubernetes.Interface
	Log      *slog.Logger
	// Labels are extra node labels.
	Labels map[string]string
}

// Kubelet is one node agent.
type Kubelet struct {
	cfg      Config
	client   kubernetes.Interface
	rt       Runtime
	log      *slog.Logger
	recorder record.EventRecorder
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	podsSync cache.InformerSynced
	tokens   *tokenCache
	env      envSource
	rates    rates // previous CPU readings for /stats/summary rates

	netMu sync.Mutex
	net   *network.Network

	mu      sync.Mutex
	workers map[types.UID]*podWorker
}

// StateDir is where the kubelet keeps pod directories and the pod network.
func StateDir(dataDir string) string { return filepath.Join(dataDir, "kubelet") }

// New builds a kubelet; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	if cfg.NodeName == "" || cfg.Runtime == nil || cfg.Client == nil {
		return nil, fmt.Errorf("kubelet: NodeName, Runtime and Client are required")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	k := &Kubelet{
		cfg:     cfg,
		client:  cfg.Client,
		rt:      newCachedRuntime(cfg.Runtime),
		log:     cfg.Log,
		workers: map[types.UID]*podWorker{},
		env:     envSource{client: cfg.Client, node: cfg.NodeName},
	}
	k.tokens = &tokenCache{client: cfg.Client, entries: map[string]tokenEntry{}}
	return k, nil
}

// Run registers the node and runs the agent until ctx is done. Containers
// keep running when it returns: the next Run adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})

	if err := k.registerNode(ctx); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	podInf := factory.Core().V1().Pods()
	k.pods = podInf.Lister()
	k.podsSync = podInf.Informer().HasSynced
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podEvent(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.podEvent(ctx, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			k.podEvent(ctx, obj)
		},
	})
	// Services feed the pods' environment variables; all namespaces.
	svcFactory := informers.NewSharedInformerFactory(k.client, 0)
	svcInf := svcFactory.Core().V1().Services()
	k.services = svcInf.Lister()
	svcSynced := svcInf.Informer().HasSynced
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	svcFactory.Start(ctx.Done())
	defer svcFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), k.podsSync, svcSynced) {
		return ctx.Err()
	}
	k.log.Info("kubelet started", "node", k.cfg.NodeName)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return k.heartbeat(ctx) })
	g.Go(func() error { return k.serve(ctx) })
	g.Go(func() error { k.housekeeping(ctx); return nil })
	err := g.Wait()
	k.stopWorkers()
	return err
}

// podEvent hands a pod to its worker, starting one for a new pod.
func (k *Kubelet) podEvent(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != k.cfg.NodeName {
		return
	}
	k.mu.Lock()
	w, ok := k.workers[pod.UID]
	if !ok {
		w = newPodWorker(k, pod)
		k.workers[pod.UID] = w
		go w.run(ctx)
	}
	k.mu.Unlock()
	w.kick()
}

func (k *Kubelet) workerDone(uid types.UID) {
	k.mu.Lock()
	delete(k.workers, uid)
	k.mu.Unlock()
}

func (k *Kubelet) stopWorkers() {
	k.mu.Lock()
	ws := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		ws = append(ws, w)
	}
	k.mu.Unlock()
	for _, w := range ws {
		<-w.done
	}
}

// network returns the pod network, built once the node has a pod CIDR.
// Callers block until then.
func (k *Kubelet) network(ctx context.Context) (*network.Network, error) {
	k.netMu.Lock()
	defer k.netMu.Unlock()
	if k.net != nil {
		return k.net, nil
	}
	cidr, err := k.waitPodCIDR(ctx)
	if err != nil {
		return nil, err
	}
	n, err := network.New(network.Config{
		Bridge:       BridgeName,
		Subnet:       cidr,
		Routes:       []netip.Prefix{k.cfg.ClusterCIDR, k.cfg.ServiceCIDR},
		HostRoutes:   []netip.Prefix{k.cfg.ServiceCIDR},
		NoMasquerade: []netip.Prefix{k.cfg.ClusterCIDR},
		StateDir:     NetworkStateDir(k.cfg.DataDir),
		Log:          k.log.With("component", "network"),
	})
	if err != nil {
		return nil, err
	}
	if err := n.Setup(); err != nil {
		return nil, err
	}
	k.net = n
	return n, nil
}

// podDir is where one pod's files, volumes and pinned namespaces live.
func podDir(dataDir string, uid types.UID) string {
	return filepath.Join(StateDir(dataDir), "pods", string(uid))
}

// NetworkStateDir is where the pod network keeps namespaces and leases.
func NetworkStateDir(dataDir string) string { return filepath.Join(StateDir(dataDir), "network") }

func (k *Kubelet) waitPodCIDR(ctx context.Context) (netip.Prefix, error) {
	for {
		n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err == nil && n.Spec.PodCIDR != "" {
			return netip.ParsePrefix(n.Spec.PodCIDR)
		}
		select {
		case <-ctx.Done():
			return netip.Prefix{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
