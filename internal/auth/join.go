package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// JoinPath is where a node exchanges the join token for its credentials.
const JoinPath = "/berth/v1/join"

// JoinRequest is the body of POST JoinPath (Authorization: Bearer TOKEN).
type JoinRequest struct {
	NodeName string `json:"nodeName"`
}

// JoinResponse carries PEMs: the cluster CA and a client certificate for
// CN=system:node:<nodeName>, O=system:nodes.
type JoinResponse struct {
	CACert     string `json:"caCert"`
	ClientCert string `json:"clientCert"`
	ClientKey  string `json:"clientKey"`
}

// Join asks the server at serverURL (https://HOST:PORT) for nodeName's
// credentials with the join token and returns a rest.Config using them.
//
// The token is the trust anchor, as with a k3s token without a CA hash: the
// server's certificate is not verified on this one call (the agent has no CA
// yet); every later call verifies against the CA returned here.
func Join(ctx context.Context, serverURL, token, nodeName string) (*rest.Config, error) {
	body, _ := json.Marshal(JoinRequest{NodeName: nodeName})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serverURL, "/")+JoinPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // see doc comment
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", serverURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("join %s: read response: %w", serverURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("join %s: %s: %s", serverURL, resp.Status, strings.TrimSpace(string(data)))
	}
	var jr JoinResponse
	if err := json.Unmarshal(data, &jr); err != nil {
		return nil, fmt.Errorf("join %s: decode response: %w", serverURL, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(jr.CACert)) {
		return nil, fmt.Errorf("join %s: response has no CA certificate", serverURL)
	}
	return ClientConfig(serverURL, []byte(jr.CACert), []byte(jr.ClientCert), []byte(jr.ClientKey)), nil
}
