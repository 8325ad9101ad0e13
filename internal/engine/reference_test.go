package engine

import "testing"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in, canonical, familiar string
		wantErr                 bool
	}{
		{in: "busybox", canonical: "docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "kubetm/hello", canonical: "docker.io/kubetm/hello:latest", familiar: "kubetm/hello:latest"},
		{in: "docker.io/kubetm/hello:v2", canonical: "docker.io/kubetm/hello:v2", familiar: "kubetm/hello:v2"},
		{in: "index.docker.io/library/node:slim", canonical: "docker.io/library/node:slim", familiar: "node:slim"},
		{in: "127.0.0.1:5000/app", canonical: "127.0.0.1:5000/app:latest", familiar: "127.0.0.1:5000/app:latest"},
		{in: "localhost:5000/a/b:1", canonical: "localhost:5000/a/b:1", familiar: "localhost:5000/a/b:1"},
		{in: "busybox@sha256:" + hex64, canonical: "docker.io/library/busybox@sha256:" + hex64, familiar: "busybox@sha256:" + hex64},
		{in: "Uppercase/name", wantErr: true},
		{in: "", wantErr: true},
		{in: "a b", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseReference(%q) = %v, want an error", tc.in, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tc.in, err)
			}
			if r.String() != tc.canonical || r.Familiar() != tc.familiar {
				t.Errorf("ParseReference(%q) = %q / %q, want %q / %q", tc.in, r.String(), r.Familiar(), tc.canonical, tc.familiar)
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRegistries(t *testing.T) {
	regs, err := ParseRegistries([]byte(`
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.example:8443"
configs:
  "127.0.0.1:5000":
    auth:
      username: admin
      password: s3cret
`))
	if err != nil {
		t.Fatal(err)
	}
	eps := regs.endpoints("docker.io")
	want := []endpoint{{Host: "127.0.0.1:5000", Insecure: true}, {Host: "mirror.example:8443"}}
	if len(eps) != len(want) || eps[0] != want[0] || eps[1] != want[1] {
		t.Errorf("endpoints(docker.io) = %+v, want %+v (mirrors replace the upstream)", eps, want)
	}
	if eps := regs.endpoints("quay.io"); len(eps) != 1 || eps[0] != (endpoint{Host: "quay.io"}) {
		t.Errorf("endpoints(quay.io) = %+v, want the registry itself over https", eps)
	}
	if eps := regs.endpoints("localhost:5001"); len(eps) != 1 || !eps[0].Insecure {
		t.Errorf("endpoints(localhost:5001) = %+v, want plain http for loopback", eps)
	}
	a := regs.authFor("127.0.0.1:5000")
	if a == nil {
		t.Fatal("authFor(127.0.0.1:5000) = nil, want the configured credentials")
	}
	cfg, err := a.Authorization()
	if err != nil || cfg.Username != "admin" || cfg.Password != "s3cret" {
		t.Errorf("authFor(127.0.0.1:5000) = %+v, %v", cfg, err)
	}
	if regs.authFor("docker.io") != nil {
		t.Errorf("authFor(docker.io) should be nil")
	}

	for _, bad := range []string{
		"mirrors: {docker.io: {endpoint: [\"ftp://x\"]}}",
		"mirrors: {docker.io: {endpoints: [\"http://x\"]}}", // typo'd key: strict parsing
		"mirrors: [",
	} {
		if _, err := ParseRegistries([]byte(bad)); err == nil {
			t.Errorf("ParseRegistries(%q) = nil error, want one", bad)
		}
	}
	empty, err := LoadRegistries(t.TempDir() + "/missing.yaml")
	if err != nil || len(empty.Mirrors) != 0 {
		t.Errorf("LoadRegistries(missing) = %+v, %v; want empty", empty, err)
	}
}
