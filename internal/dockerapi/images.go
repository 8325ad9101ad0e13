package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/build"
)

// images routes /images/...: image names contain slashes, so the name is
// everything between "/images/" and the last known action.
func (s *Server) images(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, "/images/")
	switch {
	case rest == "json" && r.Method == http.MethodGet:
		return s.imageList(w, r)
	case rest == "create" && r.Method == http.MethodPost:
		return s.imageCreate(w, r)
	case rest == "load" && r.Method == http.MethodPost:
		return s.imageLoad(w, r)
	case rest == "get" && r.Method == http.MethodGet:
		return s.imageSave(w, r, r.URL.Query()["names"])
	case rest == "search", rest == "prune":
		return errorf(http.StatusNotImplemented, "images/%s is not implemented by berth", rest)
	}
	if r.Method == http.MethodDelete {
		return s.imageRemove(w, r, rest)
	}
	i := strings.LastIndex(rest, "/")
	if i <= 0 {
		return notFound("page not found")
	}
	name, action := rest[:i], rest[i+1:]
	switch {
	case action == "json" && r.Method == http.MethodGet:
		return s.imageInspect(w, r, name)
	case action == "history" && r.Method == http.MethodGet:
		return s.imageHistory(w, r, name)
	case action == "tag" && r.Method == http.MethodPost:
		return s.imageTag(w, r, name)
	case action == "push" && r.Method == http.MethodPost:
		return s.imagePush(w, r, name)
	case action == "get" && r.Method == http.MethodGet:
		return s.imageSave(w, r, []string{name})
	}
	return notFound("page not found")
}

func toImageSummary(img engine.Image) imageSummary {
	tags := img.RepoTags
	if tags == nil {
		tags = []string{}
	}
	digests := img.RepoDigests
	if digests == nil {
		digests = []string{}
	}
	labels := img.Config.Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return imageSummary{ID: img.ID, RepoTags: tags, RepoDigests: digests, Created: img.Created.Unix(),
		Size: img.Size, SharedSize: -1, Labels: labels, Containers: -1}
}

// intermediate reports whether untagged img is a build step of another
// image (same leading history and layers). Docker hides those from
// `docker images` without -a.
func intermediate(img engine.Image, all []engine.Image) bool {
	h, d := img.Config.History, img.Config.RootFS.DiffIDs
	for _, o := range all {
		oh, od := o.Config.History, o.Config.RootFS.DiffIDs
		if o.ID == img.ID || len(oh) <= len(h) || len(od) < len(d) {
			continue
		}
		same := true
		for i := range h {
			if h[i].CreatedBy != oh[i].CreatedBy || !h[i].Created.Equal(oh[i].Created.Time) {
				same = false
				break
			}
		}
		for i := range d {
			if same && d[i] != od[i] {
				same = false
			}
		}
		if same {
			return true
		}
	}
	return false
}

// imageFilters is the subset of GET /images/json filters berth applies:
// reference (with wildcards), dangling and label.
type imageFilters map[string]map[string]bool

func parseFilters(q string) (imageFilters, error) {
	f := imageFilters{}
	if q == "" {
		return f, nil
	}
	if err := json.Unmarshal([]byte(q), &f); err != nil {
		// API < 1.22 sent {"key":["v"]}.
		var old map[string][]string
		if err2 := json.Unmarshal([]byte(q), &old); err2 != nil {
			return nil, badRequest("invalid filter: %v", err)
		}
		for k, vs := range old {
			f[k] = map[string]bool{}
			for _, v := range vs {
				f[k][v] = true
			}
		}
	}
	return f, nil
}

func (f imageFilters) match(img engine.Image) bool {
	if refs := f["reference"]; len(refs) > 0 {
		ok := false
		for pat := range refs {
			for _, t := range img.RepoTags {
				repo := t[:strings.LastIndex(t, ":")]
				if globMatch(pat, t) || globMatch(pat, repo) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	if d := f["dangling"]; len(d) > 0 {
		if d["true"] != (len(img.RepoTags) == 0) {
			return false
		}
	}
	for l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := img.Config.Config.Labels[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}

func globMatch(pat, s string) bool {
	ok, err := path.Match(pat, s)
	return err == nil && ok
}

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	imgs, err := s.eng.Images(r.Context())
	if err != nil {
		return err
	}
	all := boolParam(q.Get("all"))
	out := []imageSummary{}
	for _, img := range imgs {
		if !all && len(img.RepoTags) == 0 && len(f["dangling"]) == 0 && intermediate(img, imgs) {
			continue
		}
		if !f.match(img) {
			continue
		}
		out = append(out, toImageSummary(img))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func boolParam(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes":
		return true
	}
	return false
}

func toImageInspect(img *engine.Image) imageInspect {
	cf := img.Config
	ii := imageInspect{
		ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Created: img.Created.Format(time.RFC3339Nano),
		Author: cf.Author, Config: fromImageConfig(cf.Config), Architecture: cf.Architecture, Os: cf.OS, Size: img.Size,
		DockerVersion: cf.DockerVersion,
	}
	if ii.RepoTags == nil {
		ii.RepoTags = []string{}
	}
	if ii.RepoDigests == nil {
		ii.RepoDigests = []string{}
	}
	if ii.Os == "" {
		ii.Os = "linux"
	}
	if n := len(cf.History); n > 0 {
		ii.Comment = cf.History[n-1].Comment
	}
	ii.Metadata.LastTagTime = timeString(time.Time{})
	ii.GraphDriver.Name = "overlay2"
	ii.GraphDriver.Data = map[string]string{}
	ii.RootFS.Type = "layers"
	ii.RootFS.Layers = []string{}
	for _, d := range cf.RootFS.DiffIDs {
		ii.RootFS.Layers = append(ii.RootFS.Layers, d.String())
	}
	return ii
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request, name string) error {
	img, err := s.eng.Image(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	writeJSON(w, http.StatusOK, toImageInspect(img))
	return nil
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	hist, err := s.eng.History(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	type entry struct {
		ID        string   `json:"Id"`
		Created   int64    `json:"Created"`
		CreatedBy string   `json:"CreatedBy"`
		Tags      []string `json:"Tags"`
		Size      int64    `json:"Size"`
		Comment   string   `json:"Comment"`
	}
	out := make([]entry, 0, len(hist))
	for _, h := range hist {
		out = append(out, entry{ID: h.ID, Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Tags: h.Tags, Size: h.Size, Comment: h.Comment})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	repo, tag := q.Get("repo"), q.Get("tag")
	if repo == "" {
		return badRequest("repository name must have at least one component")
	}
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	if _, err := engine.ParseReference(target); err != nil {
		return badRequest("%v", err)
	}
	if err := s.eng.Tag(r.Context(), name, target); err != nil {
		return noSuchImage(name, err)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request, name string) error {
	res, err := s.eng.RemoveImage(r.Context(), name, boolParam(r.URL.Query().Get("force")))
	if err != nil {
		if errors.Is(err, engine.ErrImageInUse) {
			// The engine words the rest as docker does; only its prefix goes.
			return conflict("conflict: %s", strings.TrimPrefix(err.Error(), engine.ErrImageInUse.Error()+": "))
		}
		return noSuchImage(name, err)
	}
	out := []map[string]string{}
	for _, u := range res.Untagged {
		out = append(out, map[string]string{"Untagged": u})
	}
	for _, d := range res.Deleted {
		out = append(out, map[string]string{"Deleted": d})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// registryAuth decodes X-Registry-Auth: base64url JSON of an auth config
// (docker/cli registry.EncodeAuthConfig).
func registryAuth(r *http.Request) *engine.Credentials {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding} {
		b, err := enc.DecodeString(h)
		if err != nil {
			continue
		}
		var ac authConfig
		if json.Unmarshal(b, &ac) == nil {
			return toCredentials(ac)
		}
	}
	return nil
}

// registryConfig decodes X-Registry-Config (build): per-registry auth.
func registryConfig(r *http.Request) map[string]engine.Credentials {
	h := r.Header.Get("X-Registry-Config")
	if h == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding} {
		b, err := enc.DecodeString(h)
		if err != nil {
			continue
		}
		var m map[string]authConfig
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		out := map[string]engine.Credentials{}
		for host, ac := range m {
			if c := toCredentials(ac); c != nil {
				out[normalizeRegistry(host)] = *c
			}
		}
		return out
	}
	return nil
}

func decodeBasic(auth string) (string, string, bool) {
	b, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if src := q.Get("fromSrc"); src != "" {
		return s.imageImport(w, r, src)
	}
	from := q.Get("fromImage")
	if from == "" {
		return badRequest("fromImage or fromSrc is required")
	}
	ref := from
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	pr, err := engine.ParseReference(ref)
	if err != nil {
		return badRequest("%v", err)
	}
	p := newProgress(w)
	tagOrDigest := pr.Tag
	if pr.Digest != "" {
		tagOrDigest = pr.Digest
	}
	var header sync.Once // progress may come from several layer goroutines
	pulling := func() { p.Status(tagOrDigest, "Pulling from "+pr.FamiliarName()) }
	img, err := s.eng.Pull(r.Context(), ref, engine.PullOptions{Credentials: registryAuth(r), Progress: func(ev engine.Progress) {
		header.Do(pulling)
		m := jsonMessage{ID: ev.ID, Status: ev.Status}
		if ev.Total > 0 {
			m.Detail = &progressInfo{Current: ev.Current, Total: ev.Total}
		}
		p.send(m)
	}})
	if err != nil {
		p.finish(s, r, pullError(pr, err))
		return nil
	}
	header.Do(pulling)
	if img.ManifestDigest != "" {
		p.Status("", "Digest: "+img.ManifestDigest)
	}
	p.Status("", "Status: Downloaded newer image for "+pr.Familiar())
	p.finish(s, r, nil)
	return nil
}

// pullError words a registry refusal the way docker does, so the CLI's
// "Unable to find image" path reads the same.
func pullError(ref engine.Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
			return notFound("pull access denied for %s, repository does not exist or may require 'docker login'", ref.FamiliarName())
		}
	}
	if errors.Is(err, engine.ErrImageNotFound) {
		return notFound("manifest for %s not found: manifest unknown", ref.Familiar())
	}
	return err
}

func (s *Server) imageImport(w http.ResponseWriter, r *http.Request, src string) error {
	if src != "-" {
		return errorf(http.StatusNotImplemented, "importing from a URL is not supported by berth (it never reaches the network); pipe the tar to `docker import -`")
	}
	q := r.URL.Query()
	ref := q.Get("repo")
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	if ref != "" {
		if _, err := engine.ParseReference(ref); err != nil {
			return badRequest("%v", err)
		}
	}
	opts := engine.ImportOptions{Ref: ref, Comment: q.Get("message")}
	if changes := q["changes"]; len(changes) > 0 {
		cfg, err := build.ApplyChanges(v1.Config{}, changes)
		if err != nil {
			return badRequest("%v", err)
		}
		opts.Config = &cfg
	}
	img, err := s.eng.ImportRootfs(r.Context(), r.Body, opts)
	if err != nil {
		return badRequest("import: %v", err)
	}
	p := newProgress(w)
	p.Status("", img.ID)
	p.finish(s, r, nil)
	return nil
}

func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	pr, err := engine.ParseReference(ref)
	if err != nil {
		return badRequest("%v", err)
	}
	if _, err := s.eng.Image(r.Context(), ref); err != nil {
		return noSuchImage(ref, fmt.Errorf("An image does not exist locally with the tag: %s: %w", pr.FamiliarName(), err))
	}
	p := newProgress(w)
	p.Status("", fmt.Sprintf("The push refers to repository [%s]", pr.Name()))
	digest, err := s.eng.Push(r.Context(), ref, engine.PushOptions{Credentials: registryAuth(r), Progress: func(ev engine.Progress) {
		m := jsonMessage{ID: ev.ID, Status: ev.Status}
		if ev.Total > 0 {
			m.Detail = &progressInfo{Current: ev.Current, Total: ev.Total}
		}
		p.send(m)
	}})
	if err != nil {
		p.finish(s, r, fmt.Errorf("push %s: %w", pr.Familiar(), err))
		return nil
	}
	p.Status("", fmt.Sprintf("%s: digest: %s", pr.Tag, digest))
	p.send(jsonMessage{Aux: map[string]any{"Tag": pr.Tag, "Digest": digest}})
	p.finish(s, r, nil)
	return nil
}

func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	names, err := s.eng.Load(r.Context(), r.Body)
	if err != nil {
		return badRequest("load: %v", err)
	}
	sort.Strings(names)
	p := newProgress(w)
	for _, n := range names {
		if strings.HasPrefix(n, "sha256:") {
			p.Stream("Loaded image ID: " + n + "\n")
		} else {
			p.Stream("Loaded image: " + familiarRef(n) + "\n")
		}
	}
	p.finish(s, r, nil)
	return nil
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	if len(names) == 0 {
		return badRequest("no image names given")
	}
	for _, n := range names {
		if _, err := s.eng.Image(r.Context(), n); err != nil {
			return noSuchImage(n, err)
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.eng.Save(r.Context(), w, names); err != nil {
		// The header is out; all that is left is to cut the stream short,
		// which the CLI reports as a truncated archive.
		s.log.Error("save images", "names", names, "err", err)
	}
	return nil
}

// looksLikeID reports whether s is an image/container ID or prefix.
func looksLikeID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) < 12 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// commit is POST /commit (docker commit): the container's changes become a
// layer on its image, with the container's effective config plus changes.
func (s *Server) commit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id := q.Get("container")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	ref := q.Get("repo")
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	if ref != "" {
		if _, err := engine.ParseReference(ref); err != nil {
			return badRequest("%v", err)
		}
	}
	var base v1.Config
	if c.ImageID != "" {
		img, err := s.eng.Image(r.Context(), c.ImageID)
		if err != nil {
			return err
		}
		base = *img.Config.Config.DeepCopy()
	}
	base.Env, base.WorkingDir, base.User = c.Env, c.WorkingDir, c.User
	if c.Spec.Cmd != nil {
		base.Cmd = c.Spec.Cmd
	}
	if c.Spec.Entrypoint != nil {
		base.Entrypoint = c.Spec.Entrypoint
	}
	cfg, err := build.ApplyChanges(base, q["changes"])
	if err != nil {
		return badRequest("%v", err)
	}
	img, err := s.eng.Commit(r.Context(), c.ID, engine.CommitOptions{Ref: ref, Config: &cfg,
		Comment: q.Get("comment"), Author: q.Get("author"), CreatedBy: strings.Join(append([]string{c.Path}, c.Args...), " ")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"Id": img.ID})
	return nil
}
