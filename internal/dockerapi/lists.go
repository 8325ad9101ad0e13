package dockerapi

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// networks is GET /networks (docker network ls): the three networks a
// container can be in; user-defined networks are not supported.
func (s *Server) networks(w http.ResponseWriter, r *http.Request) error {
	out := []map[string]any{}
	for _, n := range []struct{ name, driver string }{{"bridge", "bridge"}, {"host", "host"}, {"none", "null"}} {
		if n.name == "bridge" && s.sandboxes == nil {
			continue
		}
		out = append(out, map[string]any{"Name": n.name, "Id": n.name, "Driver": n.driver, "Scope": "local",
			"Created": timeString(time.Time{}), "Internal": false, "Attachable": false, "Ingress": false,
			"EnableIPv6": false, "Options": map[string]string{}, "Labels": map[string]string{},
			"IPAM": map[string]any{"Driver": "default", "Config": []any{}}})
	}
	if len(out) > 0 && out[0]["Name"] == "bridge" {
		out[0]["Options"] = map[string]string{"com.docker.network.bridge.name": s.cfg.BridgeName}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// volumes is GET /volumes (docker volume ls): the named volumes that -v
// NAME:/path created under DATA_DIR/docker/volumes.
func (s *Server) volumes(w http.ResponseWriter, r *http.Request) error {
	dir := filepath.Join(s.cfg.DataDir, "docker", "volumes")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	vols := []map[string]any{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		vols = append(vols, map[string]any{"Name": e.Name(), "Driver": "local", "Scope": "local",
			"Mountpoint": filepath.Join(dir, e.Name(), "_data"), "Labels": map[string]string{}, "Options": map[string]string{}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"Volumes": vols, "Warnings": []string{}})
	return nil
}
