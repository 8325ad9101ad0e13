package storage

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// claimsPrefix keeps reservations apart from API objects.
const claimsPrefix = "/berth/claims/"

// Claims implements admission.Claims: one etcd key per reservation,
// created only if absent, so two API servers never hand out the same one.
type Claims struct{ cli *clientv3.Client }

// NewClaims returns the claim store over s's etcd.
func NewClaims(s *Store) *Claims { return &Claims{cli: s.cli} }

// Claim creates key with owner if absent and reports whether it did.
func (c *Claims) Claim(ctx context.Context, key, owner string) (bool, error) {
	k := claimsPrefix + key
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, owner)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return resp.Succeeded, nil
}

// Unclaim deletes key.
func (c *Claims) Unclaim(ctx context.Context, key string) error {
	if _, err := c.cli.Delete(ctx, claimsPrefix+key); err != nil {
		return fmt.Errorf("unclaim %s: %w", key, err)
	}
	return nil
}

// List returns the claimed keys under prefix with their owners.
func (c *Claims) List(ctx context.Context, prefix string) (map[string]string, error) {
	resp, err := c.cli.Get(ctx, claimsPrefix+prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list claims %s: %w", prefix, err)
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), claimsPrefix)] = string(kv.Value)
	}
	return out, nil
}
