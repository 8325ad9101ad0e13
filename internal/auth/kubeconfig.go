package auth

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ClientConfig is a rest.Config for server with the cluster CA and a client
// certificate.
func ClientConfig(server string, caPEM, certPEM, keyPEM []byte) *rest.Config {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   caPEM,
			CertData: certPEM,
			KeyData:  keyPEM,
		},
		QPS:   200,
		Burst: 400,
	}
}

// AdminConfig is the admin identity against server.
func (p *PKI) AdminConfig(server string) *rest.Config {
	return ClientConfig(server, p.CAPEM, p.AdminCert, p.AdminKey)
}

// WriteKubeconfig writes cfg as a kubeconfig file (mode 0600) with the
// credentials embedded, like k3s's k3s.yaml.
func WriteKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["berth"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
	}
	kc.Contexts["berth"] = &clientcmdapi.Context{Cluster: "berth", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "berth"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return writeAtomic(path, data, 0o600)
}
