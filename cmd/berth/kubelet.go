package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/kubelet"
	"github.com/berth-dev/berth/internal/network"
)

const (
	// KubeletPort is where the node agent serves logs/exec/port-forward to the API server.
	kubeletPort = 10250
)

func init() {
	registerReset("kubelet", resetKubelet)
}

// runKubelet runs the node agent (registration, pod lifecycle, streaming server) until ctx is done.
func runKubelet(ctx context.Context, n *nodeEnv) error {
	client, err := kubernetes.NewForConfig(n.kube)
	if err != nil {
		return fmt.Errorf("kubelet client: %w", err)
	}
	name, ip := nodeIdentity(n.opts)
	k, err := kubelet.New(kubelet.Config{
		NodeName:    name,
		NodeIP:      ip,
		DataDir:     n.opts.DataDir,
		Port:        kubeletPort,
		ClusterDNS:  n.net.ClusterDNS,
		ClusterCIDR: n.net.ClusterCIDR,
		ServiceCIDR: n.net.ServiceCIDR,
		CgroupRoot:  n.eng.CgroupRoot() + "/kubepods",
		ClientCA:    n.kube.TLSClientConfig.CAData,
		Runtime:     engineRuntime{n.eng},
		Client:      client,
		Log:         n.log.With("component", "kubelet"),
	})
	if err != nil {
		return err
	}
	return k.Run(ctx)
}

// nodeIdentity is --node-name (default: hostname) and --node-ip (default:
// the first global unicast address).
func nodeIdentity(o *agentOptions) (string, string) {
	name := o.NodeName
	if name == "" {
		name, _ = os.Hostname() // an empty name fails registration with a clear error
	}
	ip := o.NodeIP
	if ip == "" {
		ip = defaultAdvertiseAddress("")
	}
	return name, ip
}

// resetKubelet removes the pod network (namespaces, bridge, masquerade
// table, IPAM leases), the pods' pinned namespaces and tmpfs volumes, and
// the pod cgroups of this data dir. Containers are the engine's reset.
func resetKubelet(ctx context.Context, dataDir string) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	var errs []error
	if err := network.Reset(kubelet.BridgeName, kubelet.NetworkStateDir(abs)); err != nil {
		errs = append(errs, err)
	}
	if err := kubelet.ResetPods(abs, engine.CgroupRoot(abs)+"/kubepods"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// engineRuntime adapts the engine to the kubelet's Runtime interface.
type engineRuntime struct{ e *engine.Engine }

func (r engineRuntime) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := r.e.Image(ctx, ref)
	if errors.Is(err, engine.ErrImageNotFound) {
		return "", kubelet.ErrImageNotPresent
	}
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

func (r engineRuntime) PullImage(ctx context.Context, ref string) (string, int64, error) {
	img, err := r.e.Pull(ctx, ref, engine.PullOptions{})
	if err != nil {
		return "", 0, err
	}
	return img.ID, img.Size, nil
}

func (r engineRuntime) CreateContainer(ctx context.Context, c kubelet.ContainerConfig) (string, error) {
	spec := engine.ContainerSpec{
		Name:             c.Name,
		Hostname:         c.Hostname,
		Image:            c.Image,
		Entrypoint:       c.Entrypoint,
		Cmd:              c.Cmd,
		Env:              c.Env,
		WorkingDir:       c.WorkingDir,
		User:             c.User,
		AdditionalGroups: c.SupplementaryGroups,
		Labels:           c.Labels,
		Tty:              c.Tty,
		OpenStdin:        c.Stdin,
		StdinOnce:        c.StdinOnce,
		NetNS:            c.NetNS,
		IPCNS:            c.IPCNS,
		UTSNS:            c.UTSNS,
		HostsPath:        c.HostsPath,
		ResolvConfPath:   c.ResolvConfPath,
		HostnamePath:     c.HostnamePath,
		CgroupParent:     c.CgroupParent,
		CapAdd:           c.CapAdd,
		CapDrop:          c.CapDrop,
		Privileged:       c.Privileged,
		ReadonlyRootfs:   c.ReadonlyRootfs,
		StopSignal:       c.StopSignal,
		Resources: engine.Resources{
			Memory:    c.MemoryLimit,
			CPUShares: c.CPUShares,
			CPUQuota:  c.CPUQuota,
		},
	}
	if c.CPUQuota > 0 {
		spec.Resources.CPUPeriod = 100000
	}
	for _, m := range c.Mounts {
		spec.Mounts = append(spec.Mounts, engine.Mount{Type: m.Type, Source: m.Source, Destination: m.Destination, ReadOnly: m.ReadOnly, Options: m.Options})
	}
	ct, err := r.e.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	return ct.ID, nil
}

func (r engineRuntime) StartContainer(ctx context.Context, id string) error {
	return r.e.Start(ctx, id)
}

func (r engineRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	err := r.e.Stop(ctx, id, engine.StopOptions{Timeout: &grace})
	if errors.Is(err, engine.ErrNotRunning) || errors.Is(err, engine.ErrContainerNotFound) {
		return nil
	}
	return err
}

func (r engineRuntime) RemoveContainer(ctx context.Context, id string) error {
	err := r.e.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true})
	if errors.Is(err, engine.ErrContainerNotFound) {
		return nil
	}
	return err
}

func (r engineRuntime) ListContainers(ctx context.Context, labels map[string]string) ([]kubelet.ContainerInfo, error) {
	cs, err := r.e.List(ctx, engine.ListOptions{All: true, Labels: labels})
	if err != nil {
		return nil, err
	}
	out := make([]kubelet.ContainerInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, kubelet.ContainerInfo{
			ID:      c.ID,
			Name:    c.Name,
			Labels:  c.Spec.Labels,
			Image:   c.Image,
			ImageID: c.ImageID,
			Created: c.Created,
			State: kubelet.ContainerState{
				Running:    c.State.Running,
				Created:    c.State.Status == engine.StatusCreated,
				ExitCode:   c.State.ExitCode,
				OOMKilled:  c.State.OOMKilled,
				Error:      c.State.Error,
				StartedAt:  c.State.StartedAt,
				FinishedAt: c.State.FinishedAt,
			},
			CgroupsPath: c.CgroupsPath,
		})
	}
	return out, nil
}

func (r engineRuntime) Logs(ctx context.Context, id string, o kubelet.LogOptions, w kubelet.LogWriter) error {
	opts := engine.LogOptions{Follow: o.Follow, Since: o.Since}
	if o.Tail >= 0 {
		opts.Tail, opts.TailSet = o.Tail, true
	}
	return r.e.Logs(ctx, id, opts, func(le engine.LogEntry) error { return w(le.Stream, le.Time, le.Line) })
}

func (r engineRuntime) Exec(ctx context.Context, id string, o kubelet.ExecOptions) (int, error) {
	p, err := r.e.Exec(ctx, id, engine.ExecOptions{Cmd: o.Cmd, Tty: o.Tty, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr,
		ConsoleWidth: o.Width, ConsoleHeight: o.Height})
	if err != nil {
		return 0, err
	}
	if o.Resize != nil && o.Tty {
		go func() {
			for {
				select {
				case <-p.Done():
					return
				case sz := <-o.Resize:
					p.Resize(sz.Width, sz.Height) // a size the pty refuses changes nothing
				}
			}
		}()
	}
	return p.Wait(ctx)
}

func (r engineRuntime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) error {
	return r.e.Attach(ctx, id, engine.AttachOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func (r engineRuntime) Stats(ctx context.Context, id string) (kubelet.ContainerStats, error) {
	s, err := r.e.Stats(ctx, id)
	if err != nil {
		return kubelet.ContainerStats{}, err
	}
	ws := s.MemoryUsage
	if inactive := s.MemoryStat["total_inactive_file"]; inactive < ws {
		ws -= inactive
	}
	return kubelet.ContainerStats{
		Time:             s.Read,
		CPUUsageNanos:    s.CPUUsageTotal,
		MemoryUsage:      s.MemoryUsage,
		MemoryWorkingSet: ws,
		MemoryRSS:        s.MemoryStat["total_rss"],
		PageFaults:       s.MemoryStat["total_pgfault"],
		MajorPageFaults:  s.MemoryStat["total_pgmajfault"],
	}, nil
}
