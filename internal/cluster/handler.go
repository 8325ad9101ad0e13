package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/auth"
)

// Member is one etcd member as GET MembersPath lists it.
type Member struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"` // empty until the member has started
	PeerURLs []string `json:"peerURLs"`
}

// memberRequest is the body of POST MembersPath.
type memberRequest struct {
	Name    string `json:"name"`
	PeerURL string `json:"peerURL"`
}

// memberResponse is etcd's --initial-cluster for the new member.
type memberResponse struct {
	InitialCluster string `json:"initialCluster"`
}

// Handler serves the cluster endpoints of an existing server to callers
// holding the join token.
type Handler struct {
	DataDir string
	Token   string
	Etcd    *clientv3.Client
	Log     *slog.Logger
}

// Route sends the cluster paths to h and everything else to api.
func Route(api http.Handler, h *Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == BootstrapPath || r.URL.Path == MembersPath {
			h.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !auth.BearerMatches(r, h.Token) {
		writeStatus(w, apierrors.NewUnauthorized("the cluster endpoints need the join token"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	switch r.Method + " " + r.URL.Path {
	case "GET " + BootstrapPath:
		b, err := readBootstrap(h.DataDir)
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		writeJSON(w, b)
	case "GET " + MembersPath:
		resp, err := h.Etcd.MemberList(ctx)
		if err != nil {
			writeStatus(w, apierrors.NewServiceUnavailable("etcd member list: "+err.Error()))
			return
		}
		out := []Member{}
		for _, m := range resp.Members {
			out = append(out, Member{ID: strconv.FormatUint(m.ID, 16), Name: m.Name, PeerURLs: m.PeerURLs})
		}
		writeJSON(w, out)
	case "POST " + MembersPath:
		var req memberRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			writeStatus(w, apierrors.NewBadRequest("member request: "+err.Error()))
			return
		}
		if err := req.validate(); err != nil {
			writeStatus(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		initial, err := h.addMember(ctx, req)
		if err != nil {
			if errors.Is(err, errNameTaken) {
				writeStatus(w, apierrors.NewConflict(etcdResource, req.Name, err))
				return
			}
			writeStatus(w, apierrors.NewServiceUnavailable(err.Error()))
			return
		}
		h.Log.Info("added etcd member", "name", req.Name, "peerURL", req.PeerURL)
		writeJSON(w, memberResponse{InitialCluster: initial})
	case "DELETE " + MembersPath:
		h.removeMember(ctx, w, r.URL.Query().Get("name"))
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(etcdResource, r.Method))
	}
}

// etcdResource names the members in Status errors.
var etcdResource = schema.GroupResource{Group: "berth.dev", Resource: "etcdmembers"}

// removeMember removes the member called name, for a server that is gone
// for good: until then it counts toward etcd's quorum.
func (h *Handler) removeMember(ctx context.Context, w http.ResponseWriter, name string) {
	if name == "" {
		writeStatus(w, apierrors.NewBadRequest("member removal: ?name= is required"))
		return
	}
	list, err := h.Etcd.MemberList(ctx)
	if err != nil {
		writeStatus(w, apierrors.NewServiceUnavailable("etcd member list: "+err.Error()))
		return
	}
	i := slices.IndexFunc(list.Members, func(m *etcdserverpb.Member) bool { return m.Name == name })
	if i < 0 {
		writeStatus(w, apierrors.NewNotFound(etcdResource, name))
		return
	}
	m := list.Members[i]
	if _, err := h.Etcd.MemberRemove(ctx, m.ID); err != nil {
		writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("etcd member remove %s: %v", name, err)))
		return
	}
	h.Log.Info("removed etcd member", "name", name, "peerURLs", m.PeerURLs)
	writeJSON(w, Member{ID: strconv.FormatUint(m.ID, 16), Name: m.Name, PeerURLs: m.PeerURLs})
}

var errNameTaken = errors.New("another started member has this peer URL")

func (req memberRequest) validate() error {
	if req.Name == "" || strings.ContainsAny(req.Name, "=, ") {
		return fmt.Errorf("member request: name %q must be non-empty without '=', ',' or spaces", req.Name)
	}
	u, err := url.Parse(req.PeerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("member request: peerURL %q must be http(s)://HOST:PORT", req.PeerURL)
	}
	return nil
}

// addMember adds req's peer URL as a member, unless an earlier attempt of
// the same joiner already did (it crashed before its member started), and
// returns the joiner's --initial-cluster.
func (h *Handler) addMember(ctx context.Context, req memberRequest) (string, error) {
	list, err := h.Etcd.MemberList(ctx)
	if err != nil {
		return "", fmt.Errorf("etcd member list: %w", err)
	}
	members := list.Members
	i := slices.IndexFunc(members, func(m *etcdserverpb.Member) bool { return slices.Contains(m.PeerURLs, req.PeerURL) })
	switch {
	case i >= 0 && members[i].Name != "" && members[i].Name != req.Name:
		return "", fmt.Errorf("%w: %s is %s", errNameTaken, req.PeerURL, members[i].Name)
	case i < 0:
		resp, err := h.Etcd.MemberAdd(ctx, []string{req.PeerURL})
		if err != nil {
			return "", fmt.Errorf("etcd member add %s: %w", req.PeerURL, err)
		}
		members = resp.Members
	}
	var parts []string
	for _, m := range members {
		name := m.Name
		switch {
		case slices.Contains(m.PeerURLs, req.PeerURL):
			name = req.Name
		case name == "":
			// Another member that has not started yet: etcd matches the
			// initial cluster against the members by peer URL, so any
			// unique name does.
			name = strconv.FormatUint(m.ID, 16)
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(&st)
}
