package dockerapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/engine"
)

// login checks creds against registry ("docker.io" or host[:port]) by
// fetching /v2/ with basic auth from the first endpoint that answers: the
// registry's mirrors from registries.yaml, then the registry itself (plain
// HTTP for loopback, as docker allows).
func (s *Server) login(ctx context.Context, registry string, creds *engine.Credentials) error {
	regs, err := engine.LoadRegistries(filepath.Join(s.cfg.DataDir, "registries.yaml"))
	if err != nil {
		return err
	}
	var endpoints []string
	if m, ok := regs.Mirrors[registry]; ok {
		endpoints = append(endpoints, m.Endpoints...)
	}
	if registry != "docker.io" {
		scheme := "https://"
		if host, _, err := net.SplitHostPort(registry); err == nil && isLoopback(host) || isLoopback(registry) {
			scheme = "http://"
		}
		endpoints = append(endpoints, scheme+registry)
	}
	if len(endpoints) == 0 {
		return fmt.Errorf("login to %s: no endpoint: Docker Hub is reachable through a mirror only (registries.yaml)", registry)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var lastErr error
	for _, ep := range endpoints {
		u := strings.TrimSuffix(ep, "/") + "/v2/"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		user, pass := credentialPair(creds)
		req.SetBasicAuth(user, pass)
		resp, err := client.Do(req)
		if err != nil {
			lastErr = fmt.Errorf("Get %q: %w", u, err)
			continue
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("login attempt to %s failed with status: %d %s", u, resp.StatusCode, http.StatusText(resp.StatusCode))
		default:
			lastErr = fmt.Errorf("login attempt to %s failed with status: %d %s", u, resp.StatusCode, http.StatusText(resp.StatusCode))
		}
	}
	return lastErr
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// credentialPair returns username and password, decoding the "auth" field
// (base64 user:password) when only it is set.
func credentialPair(c *engine.Credentials) (string, string) {
	if c == nil {
		return "", ""
	}
	if c.Username == "" && c.Auth != "" {
		if u, p, ok := decodeBasic(c.Auth); ok {
			return u, p
		}
	}
	return c.Username, c.Password
}
