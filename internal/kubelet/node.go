package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/berth-dev/berth/internal/version"
)

// Heartbeat periods, upstream's defaults: the Lease every 10 s, the full
// status every minute (and whenever it changes).
const (
	leaseRenewInterval   = 10 * time.Second
	leaseDurationSeconds = 40
	statusReportInterval = time.Minute
	// MaxPods is the pod capacity upstream's kubelet defaults to.
	MaxPods = 110
)

// hostInfo is what the node status reports about the machine.
type hostInfo struct {
	cpus        int
	memory      int64 // bytes
	storage     int64 // bytes of the data dir's filesystem
	kernel      string
	osImage     string
	machineID   string
	bootID      string
	hostname    string
	podCIDRSet  bool
	kubeletPort int
}

func readHostInfo(dataDir string) hostInfo {
	h := hostInfo{cpus: runtime.NumCPU()}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				h.memory = kb << 10
			}
		}
		f.Close()
	}
	var st unix.Statfs_t
	if unix.Statfs(dataDir, &st) == nil {
		h.storage = int64(st.Blocks) * st.Bsize
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.kernel = unix.ByteSliceToString(u.Release[:])
	}
	h.osImage = "Linux"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				h.osImage = strings.Trim(v, `"`)
			}
		}
	}
	h.machineID = readTrim("/etc/machine-id")
	h.bootID = readTrim("/proc/sys/kernel/random/boot_id")
	h.hostname, _ = os.Hostname() // empty is reported as is
	return h
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p) // optional on minimal hosts
	return string(bytes.TrimSpace(b))
}

// nodeStatus renders the Node status upstream's kubelet would post.
func nodeStatus(h hostInfo, nodeIP string, old []corev1.NodeCondition, now metav1.Time) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(h.cpus), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(h.memory, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(h.storage, resource.BinarySI),
	}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	if !h.podCIDRSet {
		ready = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:pod CIDR not assigned yet"}
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		ready,
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, o := range old {
			if o.Type == conds[i].Type && o.Status == conds[i].Status {
				conds[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	addrs := []corev1.NodeAddress{}
	if nodeIP != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: nodeIP})
	}
	if h.hostname != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: h.hostname})
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Conditions:  conds,
		Addresses:   addrs,
		DaemonEndpoints: corev1.NodeDaemonEndpoints{
			KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(h.kubeletPort)},
		},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               h.machineID,
			BootID:                  h.bootID,
			KernelVersion:           h.kernel,
			OSImage:                 h.osImage,
			ContainerRuntimeVersion: "berth://" + version.Berth,
			KubeletVersion:          version.KubeGitVersion,
			KubeProxyVersion:        version.KubeGitVersion,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
	}
}

func (k *Kubelet) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   k.cfg.NodeName,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: runtime.GOARCH,
	}
	for key, v := range k.cfg.Labels {
		l[key] = v
	}
	return l
}

// registerNode creates the Node, or updates an existing one's labels and
// status (a restarted or re-joined agent).
func (k *Kubelet) registerNode(ctx context.Context) error {
	return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		err := k.tryRegister(ctx)
		if err != nil {
			k.log.Warn("node registration failed, retrying", "node", k.cfg.NodeName, "err", err)
		}
		return err == nil, nil
	})
}

func (k *Kubelet) tryRegister(ctx context.Context) error {
	nodes := k.client.CoreV1().Nodes()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: k.nodeLabels()}}
	created, err := nodes.Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err == nil {
			changed := false
			if created.Labels == nil {
				created.Labels = map[string]string{}
			}
			for key, v := range k.nodeLabels() {
				if created.Labels[key] != v {
					created.Labels[key] = v
					changed = true
				}
			}
			if changed {
				created, err = nodes.Update(ctx, created, metav1.UpdateOptions{})
			}
		}
	}
	if err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	k.log.Info("node registered", "node", k.cfg.NodeName)
	return k.updateNodeStatus(ctx, created)
}

func (k *Kubelet) updateNodeStatus(ctx context.Context, n *corev1.Node) error {
	h := readHostInfo(k.cfg.DataDir)
	h.kubeletPort = k.cfg.Port
	h.podCIDRSet = n.Spec.PodCIDR != ""
	n = n.DeepCopy()
	n.Status = nodeStatus(h, k.cfg.NodeIP, n.Status.Conditions, metav1.Now())
	if _, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update node status: %w", err)
	}
	return nil
}

// heartbeat renews the node Lease every 10 s and posts status every minute,
// and sooner when the pod CIDR appears (Ready flips).
func (k *Kubelet) heartbeat(ctx context.Context) error {
	leaseT := time.NewTicker(leaseRenewInterval)
	defer leaseT.Stop()
	statusT := time.NewTicker(statusReportInterval)
	defer statusT.Stop()
	fast := time.NewTicker(time.Second)
	defer fast.Stop()
	readyPosted := false
	k.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-leaseT.C:
			k.renewLease(ctx)
		case <-statusT.C:
			k.postStatus(ctx)
		case <-fast.C:
			if readyPosted {
				continue
			}
			n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
			if err == nil && n.Spec.PodCIDR != "" {
				readyPosted = k.updateNodeStatus(ctx, n) == nil
			}
		}
	}
}

func (k *Kubelet) postStatus(ctx context.Context) {
	n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		err = k.tryRegister(ctx) // deleted while we ran: register again, as upstream
	} else if err == nil {
		err = k.updateNodeStatus(ctx, n)
	}
	if err != nil {
		k.log.Error("node status update failed", "node", k.cfg.NodeName, "err", err)
	}
}

func (k *Kubelet) renewLease(ctx context.Context) {
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	dur := int32(leaseDurationSeconds)
	l, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &k.cfg.NodeName, LeaseDurationSeconds: &dur, RenewTime: &now},
		}
		if n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.HolderIdentity = &k.cfg.NodeName
		l.Spec.LeaseDurationSeconds = &dur
		l.Spec.RenewTime = &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		k.log.Error("lease renew failed", "node", k.cfg.NodeName, "err", err)
	}
}
