package imageregistry

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// MirrorConfig is DATA_DIR/registries.yaml in k3s's format
// (docs.k3s.io/installation/private-registry): mirrors map a registry host
// to endpoints tried in order, configs hold per-host credentials.
type MirrorConfig struct {
	Mirrors map[string]Mirror         `json:"mirrors,omitempty"`
	Configs map[string]RegistryConfig `json:"configs,omitempty"`
}

// Mirror lists the endpoints (scheme://host[:port]) that serve a registry.
type Mirror struct {
	Endpoints []string `json:"endpoint"`
}

// RegistryConfig holds the credentials for one registry host.
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth,omitempty"`
}

// RegistryAuth is a username and password for basic auth.
type RegistryAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// ClusterMirrorConfig points docker.io at the cluster registry at addr
// (host:port, plain HTTP) and gives the engine its credentials.
func ClusterMirrorConfig(addr string, c Credentials) MirrorConfig {
	return MirrorConfig{
		Mirrors: map[string]Mirror{"docker.io": {Endpoints: []string{"http://" + addr}}},
		Configs: map[string]RegistryConfig{addr: {Auth: &RegistryAuth{Username: c.Username, Password: c.Password}}},
	}
}

// WriteMirrorConfig writes m to path (mode 0600: it holds a password).
func WriteMirrorConfig(path string, m MirrorConfig) error {
	b, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
