// Package archtest holds the one table of import arrows berth forbids
// (shared/STYLE.md, "Package boundaries"), checked against `go list -deps`.
// A new arrow is then a visible diff of this table, not an accident.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berth-dev/berth"

// forbidden maps a package pattern (a prefix of the import path, relative to
// the module) to the import prefixes it must never reach, directly or not.
var forbidden = []struct {
	from string
	not  []string
}{
	{"internal/storage", []string{module + "/internal/apiserver", "net/http/httptest"}},
	{"internal/apiserver/kinds", []string{module + "/internal/apiserver/", module + "/internal/storage"}},
	{"internal/admission", []string{module + "/internal/storage", module + "/internal/controller", module + "/internal/kubelet"}},
	{"internal/apiserver", []string{module + "/internal/controller", module + "/internal/kubelet", module + "/internal/engine", module + "/internal/scheduler"}},
	{"internal/controller", []string{module + "/internal/apiserver", module + "/internal/storage", module + "/internal/kubelet", module + "/internal/engine"}},
	{"internal/scheduler", []string{module + "/internal/apiserver", module + "/internal/storage", module + "/internal/controller", module + "/internal/kubelet"}},
	{"internal/kubelet", []string{module + "/internal/apiserver", module + "/internal/storage", module + "/internal/controller", module + "/internal/engine", module + "/internal/dockerapi"}},
	{"internal/engine", []string{"k8s.io/client-go", module + "/internal/kubelet", module + "/internal/dockerapi", module + "/internal/apiserver"}},
	{"internal/dockerapi", []string{"k8s.io/client-go", module + "/internal/kubelet", module + "/internal/apiserver"}},
	{"internal/proxy", []string{module + "/internal/apiserver", module + "/internal/storage", module + "/internal/kubelet", module + "/internal/engine"}},
	{"internal/dns", []string{module + "/internal/apiserver", module + "/internal/storage", module + "/internal/kubelet", module + "/internal/engine"}},
	{"internal/imageregistry", []string{"k8s.io/client-go", module + "/internal/apiserver", module + "/internal/kubelet"}},
	{"internal/", []string{"k8s.io/kubernetes", "k8s.io/apiserver/pkg/server"}},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		for _, rule := range forbidden {
			if !strings.HasPrefix(rel, rule.from) {
				continue
			}
			checked++
			for _, d := range p.Deps {
				for _, bad := range rule.not {
					// A package may import its own subpackages (apiserver -> apiserver/kinds).
					if strings.HasPrefix(d, module+"/"+rule.from) {
						continue
					}
					if strings.HasPrefix(d, bad) {
						t.Errorf("%s imports %s (forbidden: %s must not reach %s)", rel, d, rule.from, bad)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package matched any rule: the table or the module path is stale")
	}
}
