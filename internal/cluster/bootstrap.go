// Package cluster lets several berth servers share one embedded etcd
// cluster, the way k3s's --cluster-init and --server join work: a joining
// server fetches the material every server must share (the CA, the join
// token, the registry credentials) from an existing server with the join
// token, asks it to add an etcd member for its peer URL, then starts its
// own member with the cluster's member list.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Paths served on the API server's port (see Handler).
const (
	BootstrapPath = "/berth/v1/cluster/bootstrap"
	MembersPath   = "/berth/v1/cluster/members"
)

// SharedFiles are the data-dir files every server of a cluster holds the
// same copy of: one CA (so any server's certificates verify everywhere),
// one join token (agents may name any server), one set of registry
// credentials and one service account signing key (a token any server
// issued verifies on every other).
var SharedFiles = []string{"tls/ca.crt", "tls/ca.key", "token", "registry-credentials", "tls/service-account.key"}

// Bootstrap maps a SharedFiles name to its content.
type Bootstrap map[string][]byte

// readBootstrap reads the shared files that exist in dataDir; the registry
// credentials appear only once the registry has started.
func readBootstrap(dataDir string) (Bootstrap, error) {
	b := Bootstrap{}
	for _, name := range SharedFiles {
		data, err := os.ReadFile(filepath.Join(dataDir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		b[name] = data
	}
	return b, nil
}

// write stores b under dataDir, refusing names outside SharedFiles so a
// server can't make a joiner write anywhere else.
func (b Bootstrap) write(dataDir string) error {
	for name, data := range b {
		if !slices.Contains(SharedFiles, name) {
			return fmt.Errorf("bootstrap: unexpected file %q", name)
		}
		path := filepath.Join(dataDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
			return fmt.Errorf("bootstrap: write %s: %w", name, err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return fmt.Errorf("bootstrap: write %s: %w", name, err)
		}
	}
	return nil
}

// client talks to an existing server before this one has the CA.
//
// The token is the trust anchor, as for agents (auth.Join) and a k3s token
// without a CA hash: the server's certificate is not verified on these
// calls, and the server answers only a caller that presents the token.
type client struct {
	server string
	token  string
	http   *http.Client
}

func newClient(server, token string) *client {
	return &client{server: strings.TrimRight(server, "/"), token: token, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // see doc comment
	}}
}

// do sends in (if not nil) as JSON and decodes the answer into out.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, c.server, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s%s: read response: %w", method, c.server, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s%s: %s: %s", method, c.server, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s%s: decode response: %w", method, c.server, path, err)
	}
	return nil
}
