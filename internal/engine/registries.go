package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"sigs.k8s.io/yaml"
)

// Registries is DATA_DIR/registries.yaml in the k3s format:
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["http://127.0.0.1:5000"]
//	configs:
//	  "127.0.0.1:5000":
//	    auth: {username: u, password: p}
//	    tls: {insecure_skip_verify: true}
type Registries struct {
	Mirrors map[string]Mirror         `json:"mirrors"`
	Configs map[string]RegistryConfig `json:"configs"`
}

// Mirror lists the endpoints (URLs) that serve a registry's images, tried in order.
type Mirror struct {
	Endpoints []string `json:"endpoint"`
}

// RegistryConfig holds credentials and TLS settings for one registry host.
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth"`
	TLS  *RegistryTLS  `json:"tls"`
}

// RegistryAuth are the credentials for one registry host.
type RegistryAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identity_token"`
}

// RegistryTLS configures TLS to one registry host.
type RegistryTLS struct {
	CAFile             string `json:"ca_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

// LoadRegistries reads a registries.yaml; a missing file is an empty config.
func LoadRegistries(path string) (*Registries, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Registries{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseRegistries(b)
}

// ParseRegistries parses registries.yaml content.
func ParseRegistries(b []byte) (*Registries, error) {
	var r Registries
	if err := yaml.UnmarshalStrict(b, &r); err != nil {
		return nil, fmt.Errorf("registries.yaml: %w", err)
	}
	for reg, m := range r.Mirrors {
		for _, ep := range m.Endpoints {
			if _, err := parseEndpoint(ep); err != nil {
				return nil, fmt.Errorf("registries.yaml: mirror of %s: %w", reg, err)
			}
		}
	}
	return &r, nil
}

// endpoint is one place to talk to for a registry.
type endpoint struct {
	Host     string // host[:port]
	Insecure bool   // plain HTTP
}

func parseEndpoint(s string) (endpoint, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return endpoint{}, fmt.Errorf("bad endpoint %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("bad endpoint %q: scheme must be http or https", s)
	}
	return endpoint{Host: u.Host, Insecure: u.Scheme == "http"}, nil
}

// endpoints lists where to pull or push images of registry reg. Unlike k3s,
// a configured mirror list replaces the upstream instead of falling back to
// it: berth's mirrors point docker.io at the cluster registry, and a silent
// fallback would send lookups of private names to the internet. List the
// upstream among the endpoints to get k3s's behaviour.
func (r *Registries) endpoints(reg string) []endpoint {
	var eps []endpoint
	if m, ok := r.Mirrors[reg]; ok {
		for _, s := range m.Endpoints {
			if ep, err := parseEndpoint(s); err == nil {
				eps = append(eps, ep)
			}
		}
	}
	if len(eps) == 0 {
		eps = append(eps, endpoint{Host: reg, Insecure: isLoopbackHost(reg)})
	}
	return eps
}

// authFor returns the credentials configured for host, or nil.
func (r *Registries) authFor(host string) authn.Authenticator {
	c, ok := r.Configs[host]
	if !ok || c.Auth == nil {
		return nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: c.Auth.Username, Password: c.Auth.Password,
		Auth: c.Auth.Auth, IdentityToken: c.Auth.IdentityToken,
	})
}

// transportFor returns an HTTP transport honouring the TLS config of host.
func (r *Registries) transportFor(host string) (http.RoundTripper, error) {
	c, ok := r.Configs[host]
	if !ok || c.TLS == nil {
		return http.DefaultTransport, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // the operator asked for it in registries.yaml
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry %s: ca_file: %w", host, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry %s: ca_file %s has no certificates", host, c.TLS.CAFile)
		}
		cfg.RootCAs = pool
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t, nil
}

// isLoopbackHost reports whether host[:port] is a loopback name or address;
// docker talks plain HTTP to those.
func isLoopbackHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
