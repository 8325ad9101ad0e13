// Package version holds the one place berth's versions are defined.
package version

// Berth is berth's own release, stamped at build time with
// -ldflags "-X github.com/berth-dev/berth/internal/version.Berth=...".
var Berth = "0.1.0-dev"

// The Kubernetes API level berth serves. The kubectl on these machines is a
// dispatcher that runs the kubectl matching the server's minor version (see
// shared/KUBECTL-FINDINGS.md §0), so this also picks the client the user gets.
const (
	KubeMajor = "1"
	KubeMinor = "33"
	// KubeGitVersion is what /version reports as gitVersion.
	KubeGitVersion = "v1.33.0+berth"
)

// DockerAPI is the newest Docker Engine API version berth speaks; MinDockerAPI the oldest.
const (
	DockerAPI    = "1.50"
	MinDockerAPI = "1.24"
)
