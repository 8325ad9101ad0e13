package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/berth-dev/berth/internal/auth"
)

// PeerPort is where members talk raft to each other, etcd's usual port.
const PeerPort = 2380

// Options are a server's cluster flags and what they need.
type Options struct {
	Init      bool   // --cluster-init: start a new cluster that others may join
	Server    string // --server: an existing server to join, https://HOST:PORT
	Token     string // --token: the cluster's join token
	DataDir   string
	Advertise string // this server's address; its peer URL listens there
	// LoadCA returns the cluster CA from DATA_DIR/tls (creating it on the
	// first server), which signs the peer certificates.
	LoadCA func() (*auth.PKI, error)
	Log    *slog.Logger
}

// state is DATA_DIR/etcd/cluster.json: once a member exists it keeps its
// name and peer URL whatever later flags say, since both are part of the
// membership stored in etcd.
type state struct {
	Name    string `json:"name"`
	PeerURL string `json:"peerURL"`
}

// Prepare makes this server a member of an etcd cluster: on --cluster-init
// a new one, on --server by fetching the shared files and adding a member
// through the existing server. It returns how to configure the embedded
// etcd, or nil for the single-member default (no cluster flags and no
// cluster.json). A restart with an existing member only reuses its state.
func Prepare(ctx context.Context, o Options) (func(*embed.Config), error) {
	etcdDir := filepath.Join(o.DataDir, "etcd")
	statePath := filepath.Join(etcdDir, "cluster.json")
	st, err := loadState(statePath)
	if err != nil {
		return nil, err
	}
	_, err = os.Stat(filepath.Join(etcdDir, "data", "member"))
	memberExists := err == nil
	if st == nil && !o.Init && o.Server == "" {
		return nil, nil
	}
	if o.Init && o.Server != "" {
		return nil, errors.New("--cluster-init starts a new cluster and --server joins one: give only one")
	}
	if st == nil && memberExists {
		return nil, fmt.Errorf("%s holds a single-server etcd; a cluster member needs a fresh data dir", etcdDir)
	}
	if st == nil {
		ip := net.ParseIP(o.Advertise)
		if ip == nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("cluster member: advertise address %q must be an IP other members reach", o.Advertise)
		}
		host, _ := os.Hostname()
		st = &state{Name: host + "-" + o.Advertise,
			PeerURL: (&url.URL{Scheme: "https", Host: net.JoinHostPort(o.Advertise, strconv.Itoa(PeerPort))}).String()}
	}
	initial, clusterState := st.Name+"="+st.PeerURL, embed.ClusterStateFlagNew
	if !memberExists && o.Server != "" {
		c := newClient(o.Server, o.Token)
		var b Bootstrap
		if err := c.do(ctx, http.MethodGet, BootstrapPath, nil, &b); err != nil {
			return nil, fmt.Errorf("join %s: %w", o.Server, err)
		}
		if err := b.write(o.DataDir); err != nil {
			return nil, err
		}
		resp, err := addMember(ctx, c, memberRequest{Name: st.Name, PeerURL: st.PeerURL}, o.Log)
		if err != nil {
			return nil, fmt.Errorf("join %s: %w", o.Server, err)
		}
		initial, clusterState = resp.InitialCluster, embed.ClusterStateFlagExisting
		o.Log.Info("joining etcd cluster", "server", o.Server, "initialCluster", initial)
	}
	if err := os.MkdirAll(etcdDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", etcdDir, err)
	}
	if err := saveState(statePath, st); err != nil {
		return nil, err
	}
	pki, err := o.LoadCA()
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	peer, err := url.Parse(st.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("%s: peerURL: %w", statePath, err)
	}
	tlsInfo, err := writePeerCert(etcdDir, pki, peer.Hostname())
	if err != nil {
		return nil, err
	}
	return func(cfg *embed.Config) {
		cfg.Name = st.Name
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
		cfg.InitialCluster = initial
		cfg.ClusterState = clusterState
		cfg.PeerTLSInfo = tlsInfo
		// Members talk over a network on busy hosts: etcd's default
		// heartbeat and election timeout, not the single member's short ones.
		cfg.TickMs, cfg.ElectionMs = 100, 1000
	}, nil
}

// addMember asks the server to add req as a member, retrying for a
// minute: etcd refuses a new member ("unhealthy cluster") until every
// member has been connected for a few seconds, as right after another join.
func addMember(ctx context.Context, c *client, req memberRequest, log *slog.Logger) (memberResponse, error) {
	var resp memberResponse
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.do(ctx, http.MethodPost, MembersPath, req, &resp)
		if err == nil || time.Now().After(deadline) {
			return resp, err
		}
		log.Info("etcd member add refused, retrying", "err", err)
		select {
		case <-ctx.Done():
			return resp, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// IsMember reports whether dataDir's etcd is (or is becoming) a member of
// a cluster rather than the single-server default.
func IsMember(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "etcd", "cluster.json"))
	return err == nil
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Name == "" || st.PeerURL == "" {
		return nil, fmt.Errorf("%s: want {\"name\":..., \"peerURL\":...}", path)
	}
	return &st, nil
}

func saveState(path string, st *state) error {
	b, _ := json.Marshal(st)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writePeerCert issues this member's peer certificate from the cluster CA
// (both server and client use, since members dial each other) and returns
// etcd's TLS settings: peers must present a certificate of the same CA.
func writePeerCert(etcdDir string, pki *auth.PKI, host string) (transport.TLSInfo, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return transport.TLSInfo{}, fmt.Errorf("peer key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "etcd-peer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.CA, key.Public(), pki.CAKey)
	if err != nil {
		return transport.TLSInfo{}, fmt.Errorf("issue peer certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return transport.TLSInfo{}, fmt.Errorf("peer key: %w", err)
	}
	info := transport.TLSInfo{
		CertFile:       filepath.Join(etcdDir, "peer.crt"),
		KeyFile:        filepath.Join(etcdDir, "peer.key"),
		TrustedCAFile:  filepath.Join(etcdDir, "peer-ca.crt"),
		ClientCertAuth: true,
	}
	for path, data := range map[string][]byte{
		info.KeyFile:       pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		info.CertFile:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		info.TrustedCAFile: pki.CAPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return transport.TLSInfo{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return info, nil
}
