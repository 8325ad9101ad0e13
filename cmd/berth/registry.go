package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/imageregistry"
)

// startRegistry starts the cluster image registry and returns where it
// listens. It serves plain HTTP on 127.0.0.1:--registry-port, which docker
// and go-containerregistry accept without TLS because it is loopback, and on
// the advertise address for other nodes. It writes DATA_DIR/registries.yaml
// so the engine resolves docker.io names to this registry. The listeners
// close when ctx is done.
func startRegistry(ctx context.Context, cp *controlPlane) (registryInfo, error) {
	o := cp.opts
	log := cp.log.With("component", "registry")
	creds, err := imageregistry.LoadOrCreateCredentials(filepath.Join(o.DataDir, "registry-credentials"))
	if err != nil {
		return registryInfo{}, err
	}
	h, err := imageregistry.New(imageregistry.Config{Dir: filepath.Join(o.DataDir, "registry"), Credentials: creds, Log: log})
	if err != nil {
		return registryInfo{}, err
	}
	port := strconv.Itoa(o.RegistryPort)
	local := net.JoinHostPort("127.0.0.1", port)
	addrs := []string{local}
	if ip := net.ParseIP(o.AdvertiseAddress); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		addrs = append(addrs, net.JoinHostPort(o.AdvertiseAddress, port))
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return registryInfo{}, fmt.Errorf("registry: %w", err)
		}
		lns = append(lns, ln)
	}
	if err := imageregistry.WriteMirrorConfig(filepath.Join(o.DataDir, "registries.yaml"),
		imageregistry.ClusterMirrorConfig(local, creds)); err != nil {
		return registryInfo{}, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	for _, ln := range lns {
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("registry stopped serving", "addr", ln.Addr(), "err", err)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("registry shutdown", "err", err)
		}
	}()
	log.Info("registry serving", "addrs", addrs)
	return registryInfo{Addr: local, Username: creds.Username, Password: creds.Password}, nil
}
