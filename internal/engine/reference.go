package engine

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHub is the registry name used in canonical references; the
// go-containerregistry spelling "index.docker.io" is folded into it.
const dockerHub = "docker.io"

// Reference is an image name normalized the way docker does it:
// "kubetm/hello" is docker.io/kubetm/hello:latest, shown as kubetm/hello:latest.
type Reference struct {
	Registry   string // "docker.io", "127.0.0.1:5000"
	Repository string // "library/busybox", "kubetm/hello"
	Tag        string // empty when Digest is set
	Digest     string // "sha256:..." or empty
}

// ParseReference normalizes a docker-style image name. A missing tag means
// "latest" unless a digest is given.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("invalid reference format: empty name")
	}
	r, err := name.ParseReference(s, name.WithDefaultRegistry(dockerHub))
	if err != nil {
		return Reference{}, fmt.Errorf("invalid reference format: %w", err)
	}
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	ref := Reference{Registry: reg, Repository: r.Context().RepositoryStr()}
	switch t := r.(type) {
	case name.Tag:
		ref.Tag = t.TagStr()
	case name.Digest:
		ref.Digest = t.DigestStr()
	}
	return ref, nil
}

// Name is the canonical repository name: docker.io/library/busybox.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// String is the canonical form: docker.io/library/busybox:latest or
// docker.io/kubetm/hello@sha256:....
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Name() + "@" + r.Digest
	}
	return r.Name() + ":" + r.Tag
}

// FamiliarName is the repository as docker shows it: "busybox",
// "kubetm/hello", "127.0.0.1:5000/x".
func (r Reference) FamiliarName() string {
	if r.Registry == dockerHub {
		return strings.TrimPrefix(r.Repository, "library/")
	}
	return r.Name()
}

// Familiar is the whole reference as docker shows it: busybox:latest.
func (r Reference) Familiar() string {
	if r.Digest != "" {
		return r.FamiliarName() + "@" + r.Digest
	}
	return r.FamiliarName() + ":" + r.Tag
}

// nameRef converts to a go-containerregistry reference for the registry
// host given (the reference's own registry or a mirror), plain HTTP when
// insecure.
func (r Reference) nameRef(host string, insecure bool) (name.Reference, error) {
	if host == dockerHub {
		host = name.DefaultRegistry
	}
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	s := host + "/" + r.Repository
	if r.Digest != "" {
		return name.NewDigest(s+"@"+r.Digest, opts...)
	}
	return name.NewTag(s+":"+r.Tag, opts...)
}
