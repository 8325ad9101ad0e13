package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/apiserver/nodeproxy"
	"github.com/berth-dev/berth/internal/apiserver/openapi"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/metricsapi"
	metricsv1beta1 "github.com/berth-dev/berth/internal/metricsapi/v1beta1"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/storage"
)

// runServer runs the control plane until ctx is done: etcd (embedded or
// external), the API server, then, once it serves, startRegistry,
// runControllers and runScheduler with a controlPlane. It calls ready (if
// not nil) with what a local agent needs to join.
func runServer(ctx context.Context, o *serverOptions, ready func(joinInfo)) error {
	log := slog.Default().With("role", "server")
	apiserver.Preload()
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	etcd, closeEtcd, err := openEtcd(ctx, o, log)
	if err != nil {
		return err
	}
	defer closeEtcd()

	advertise := o.AdvertiseAddress
	if advertise == "" {
		advertise = defaultAdvertiseAddress(o.BindAddress)
	}
	kubeServiceIP, err := firstServiceIP(o.ServiceCIDR)
	if err != nil {
		return err
	}
	pki, err := auth.LoadOrCreatePKI(filepath.Join(o.DataDir, "tls"), servingSANs(advertise, kubeServiceIP))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	saTokens, err := auth.LoadOrCreateTokenSigner(filepath.Join(o.DataDir, "tls"))
	if err != nil {
		return fmt.Errorf("service account signing key: %w", err)
	}
	token, err := auth.LoadOrCreateToken(filepath.Join(o.DataDir, "token"))
	if err != nil {
		return err
	}
	local := "https://" + net.JoinHostPort(loopbackFor(o.BindAddress), strconv.Itoa(o.HTTPSPort))
	admin := pki.AdminConfig(local)
	if err := auth.WriteKubeconfig(filepath.Join(o.DataDir, "kubeconfig"), admin); err != nil {
		return err
	}

	store := storage.New(etcd, log.With("component", "storage"))
	adm, err := newAdmission(o, store, log.With("component", "admission"))
	if err != nil {
		return err
	}
	loopback, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return fmt.Errorf("loopback client: %w", err)
	}
	metrics := metricsapi.NewScraper(loopback, log.With("component", "metrics-scraper"))
	api := apiserver.New(apiserver.Config{
		Store:     store,
		PKI:       pki,
		Token:     token,
		Admission: adm,
		// Service account tokens and RBAC: a binding change is seen
		// within a second on every server.
		ServiceAccountTokens: saTokens,
		RBAC:                 rbac.NewAuthorizer(rbac.StoreLoader(store), time.Second),
		NodeProxy:            nodeproxy.New(loopback, pki.KubeletClient),
		OpenAPI: openapi.New(kinds.All(), log.With("component", "openapi"),
			openapi.WithV3Definitions(metricsv1beta1.SchemeGroupVersion, metricsapi.OpenAPIDefinitions, metricsapi.OpenAPIResources...)),
		Extensions: []apiserver.Extension{{
			Prefix:     metricsapi.Prefix,
			Handler:    metricsapi.New(metrics, log.With("component", "metricsapi")),
			Aggregated: metricsapi.AggregatedDiscovery(),
			Legacy:     metricsapi.LegacyGroup(),
		}},
		Log: log.With("component", "apiserver"),
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(o.BindAddress, strconv.Itoa(o.HTTPSPort)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv, err := newHTTPSServer(withCluster(api, o, token, etcd, log), pki)
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve https: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		api.Stop()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	})
	g.Go(func() error { return store.RunCompactor(ctx) })
	g.Go(func() error { return metrics.Run(ctx) })
	g.Go(func() error {
		if err := apiserver.Bootstrap(ctx, admin, kubeServiceIP, advertise, o.HTTPSPort); err != nil {
			return fmt.Errorf("bootstrap cluster objects: %w", err)
		}
		if err := rbac.Bootstrap(ctx, loopback); err != nil {
			return fmt.Errorf("bootstrap RBAC roles: %w", err)
		}
		api.SetReady()
		g.Go(func() error {
			return apiserver.RunEndpointLeases(ctx, admin, advertise, o.HTTPSPort, log.With("component", "endpoint-leases"))
		})
		// Repair frees ClusterIP/NodePort claims leaked by a crash between
		// claiming and storing, and re-claims what stored Services hold.
		g.Go(func() error { return adm.Run(ctx) })
		cp := &controlPlane{opts: o, admin: admin, log: log}
		reg, err := startRegistry(ctx, cp)
		if err != nil {
			return fmt.Errorf("start registry: %w", err)
		}
		g.Go(func() error { return runControllers(ctx, cp) })
		g.Go(func() error { return runScheduler(ctx, cp) })
		if ready != nil {
			ready(joinInfo{
				URL:      "https://" + net.JoinHostPort(advertise, strconv.Itoa(o.HTTPSPort)),
				Token:    token,
				Registry: reg,
			})
		}
		return nil
	})
	return g.Wait()
}

// newAdmission builds the admission chain over the store, with the service
// ranges from the flags.
func newAdmission(o *serverOptions, store *storage.Store, log *slog.Logger) (*admission.Plugins, error) {
	cidr, err := netip.ParsePrefix(o.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	var ports admission.PortRange
	if _, err := fmt.Sscanf(o.NodePortRange, "%d-%d", &ports.First, &ports.Last); err != nil {
		return nil, fmt.Errorf("--service-node-port-range %q: want FIRST-LAST", o.NodePortRange)
	}
	adm, err := admission.New(admission.Config{Claims: storage.NewClaims(store), Reader: apiserver.NewReader(store),
		ServiceCIDR: cidr, NodePorts: ports, Log: log})
	if err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	return adm, nil
}

// openEtcd connects to --etcd-endpoints or starts the embedded member in DATA_DIR/etcd.
func openEtcd(ctx context.Context, o *serverOptions, log *slog.Logger) (*clientv3.Client, func(), error) {
	if len(o.EtcdEndpoints) > 0 {
		cli, err := clientv3.New(clientv3.Config{Endpoints: o.EtcdEndpoints, DialTimeout: 10 * time.Second, Context: ctx})
		if err != nil {
			return nil, nil, fmt.Errorf("connect etcd %v: %w", o.EtcdEndpoints, err)
		}
		return cli, func() { _ = cli.Close() }, nil
	}
	member, err := clusterMember(ctx, o, log)
	if err != nil {
		return nil, nil, err
	}
	e, err := storage.StartEmbedded(ctx, filepath.Join(o.DataDir, "etcd"), log.With("component", "etcd"), member)
	if err != nil {
		return nil, nil, err
	}
	return e.Client, e.Close, nil
}

func newHTTPSServer(h http.Handler, pki *auth.PKI) (*http.Server, error) {
	certPEM, keyPEM := pki.ServingPair()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pki.CA)
	return &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.VerifyClientCertIfGiven,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ReadHeaderTimeout: 30 * time.Second,
		// Every in-process client (controllers, scheduler, the local agent)
		// multiplexes its watches over one HTTP/2 connection; Go's default of
		// 250 streams would stall them, so allow what upstream allows.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: 1000},
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}, nil
}

// firstServiceIP is the address the kubernetes Service gets: the first of
// the service range, as upstream's API server picks it.
func firstServiceIP(serviceCIDR string) (string, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return "", fmt.Errorf("--service-cidr: %w", err)
	}
	return p.Masked().Addr().Next().String(), nil
}

// servingSANs are the names clients reach the API server by: the node's
// addresses, loopback, and the in-cluster names of the kubernetes Service.
func servingSANs(advertise, kubeServiceIP string) []string {
	sans := []string{advertise, "127.0.0.1", "localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", kubeServiceIP}
	if h, err := os.Hostname(); err == nil {
		sans = append(sans, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
			sans = append(sans, ipn.IP.String())
		}
	}
	return sans
}

// defaultAdvertiseAddress is the bind address when it is specific, else
// the host's first global address (loopback when it has none).
func defaultAdvertiseAddress(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return bind
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

// loopbackFor is the address local clients (the admin kubeconfig) use.
func loopbackFor(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return bind
	}
	return "127.0.0.1"
}
