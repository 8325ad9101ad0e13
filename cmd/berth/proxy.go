package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/internal/dns"
	"github.com/berth-dev/berth/internal/netpol"
	"github.com/berth-dev/berth/internal/proxy"
	"github.com/berth-dev/berth/internal/proxy/nft"
)

func init() {
	registerReset("proxy", func(ctx context.Context, dataDir string) error {
		return errors.Join(nft.DeleteTable(ctx, proxy.TableName(dataDir)), nft.DeleteTable(ctx, netpol.TableName(dataDir)))
	})
}

// runProxy runs the service proxy (nftables), NetworkPolicy enforcement
// and the cluster DNS until ctx is done. DNS listens on the node address,
// port 53; the proxy sends kube-system/kube-dns's port 53 to that listener
// on every node, so pods reach it at 10.96.0.10. The kube-dns Service
// itself and LoadBalancer status are written by the controller manager
// (controllers.go): node credentials may not write Services.
func runProxy(ctx context.Context, n *nodeEnv) error {
	log := n.log.With("component", "proxy")
	kube, err := kubernetes.NewForConfig(n.kube)
	if err != nil {
		return fmt.Errorf("proxy client: %w", err)
	}
	nodeName, err := proxyNodeName(n.opts)
	if err != nil {
		return err
	}
	nodeIP, err := proxyNodeIP(ctx, kube, nodeName, n.opts.NodeIP)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(kube, 0)
	svcInf := factory.Core().V1().Services().Informer()
	sliceInf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := svcInf.AddIndexers(dns.ServiceIPIndexers); err != nil {
		return fmt.Errorf("index services: %w", err)
	}
	if err := sliceInf.AddIndexers(dns.SliceIPIndexers); err != nil {
		return fmt.Errorf("index endpointslices: %w", err)
	}
	dnsEP := []proxy.Endpoint{{IP: nodeIP, Port: 53}}
	metricsEP := []proxy.Endpoint{{IP: nodeIP, Port: 9153}}
	p, err := proxy.New(proxy.Config{
		Table:       proxy.TableName(n.opts.DataDir),
		ClusterCIDR: n.net.ClusterCIDR,
		ServiceCIDR: n.net.ServiceCIDR,
		NodeName:    nodeName,
		Override: proxy.Override{
			proxy.OverrideKey(metav1.NamespaceSystem, "kube-dns", "udp", 53):   dnsEP,
			proxy.OverrideKey(metav1.NamespaceSystem, "kube-dns", "tcp", 53):   dnsEP,
			proxy.OverrideKey(metav1.NamespaceSystem, "kube-dns", "tcp", 9153): metricsEP,
		},
		Log: log,
	}, factory)
	if err != nil {
		return err
	}
	np, err := netpol.New(netpol.TableName(n.opts.DataDir), nodeName, factory, n.log.With("component", "netpol"))
	if err != nil {
		return err
	}
	// A node whose resolv.conf is missing still answers cluster names.
	ups, err := dns.Upstreams("/etc/resolv.conf", n.net.ClusterDNS, nodeIP.String())
	if err != nil {
		log.Warn("no upstream resolvers, names outside the cluster will fail", "err", err)
	}
	srv := dns.New(dns.Config{Upstreams: ups, Log: n.log.With("component", "dns")}, &dns.Store{
		Services:    factory.Core().V1().Services().Lister(),
		Slices:      factory.Discovery().V1().EndpointSlices().Lister(),
		ServiceByIP: svcInf.GetIndexer(),
		SliceByIP:   sliceInf.GetIndexer(),
	})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(ctx) })
	g.Go(func() error { return np.Run(ctx) })
	g.Go(func() error { return srv.ListenAndServe(ctx, net.JoinHostPort(nodeIP.String(), "53"), nil) })
	g.Go(func() error {
		return serveDNSMetrics(ctx, net.JoinHostPort(nodeIP.String(), "9153"), srv.MetricsHandler())
	})
	return g.Wait()
}

// proxyNodeName is --node-name or the hostname, as the kubelet names its node.
func proxyNodeName(o *agentOptions) (string, error) {
	if o.NodeName != "" {
		return o.NodeName, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("node name: %w", err)
	}
	return h, nil
}

// proxyNodeIP is --node-ip, or else the InternalIP the kubelet reports for
// node name (waiting for it to register).
func proxyNodeIP(ctx context.Context, kube kubernetes.Interface, name, flag string) (netip.Addr, error) {
	if flag != "" {
		ip, err := netip.ParseAddr(flag)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("--node-ip %q: %w", flag, err)
		}
		return ip, nil
	}
	for {
		if node, err := kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
			for _, a := range node.Status.Addresses {
				if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil && ip.Is4() {
					return ip, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, errors.Join(ctx.Err(), fmt.Errorf("node %s has no InternalIP", name))
		case <-time.After(time.Second):
		}
	}
}

// serveDNSMetrics serves the cluster DNS's /metrics (kube-dns port 9153)
// until ctx is done.
func serveDNSMetrics(ctx context.Context, addr string, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close() // nothing in flight is worth waiting for
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dns metrics on %s: %w", addr, err)
	}
	return nil
}
