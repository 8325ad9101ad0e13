package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func sortStrings(s []string) { sort.Strings(s) }

// volumeFile is one file of a configMap, secret, downwardAPI or projected volume.
type volumeFile struct {
	path string
	data []byte
	mode os.FileMode
}

// setupVolumes prepares every volume of pod under dir and returns the host
// path of each by name. It is called on every sync, so configMap and
// secret contents follow changes of their objects.
func (k *Kubelet) setupVolumes(ctx context.Context, pod *corev1.Pod, dir, podIP string) (map[string]string, error) {
	paths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		p, err := k.setupVolume(ctx, pod, filepath.Join(dir, "volumes", v.Name), v, podIP)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		paths[v.Name] = p
	}
	return paths, nil
}

func (k *Kubelet) setupVolume(ctx context.Context, pod *corev1.Pod, path string, v corev1.Volume, podIP string) (string, error) {
	var gid *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		gid = sc.FSGroup
	}
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(path, 0o777); err != nil {
			return "", err
		}
		if err := os.Chmod(path, 0o777); err != nil {
			return "", err
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory && !isMountPoint(path) {
			opts := "mode=1777"
			if v.EmptyDir.SizeLimit != nil && !v.EmptyDir.SizeLimit.IsZero() {
				opts += ",size=" + strconv.FormatInt(v.EmptyDir.SizeLimit.Value(), 10)
			}
			if err := unix.Mount("tmpfs", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
				return "", fmt.Errorf("mount tmpfs: %w", err)
			}
		}
		return path, chownGroup(path, gid)
	case v.HostPath != nil:
		hp := v.HostPath.Path
		t := corev1.HostPathUnset
		if v.HostPath.Type != nil {
			t = *v.HostPath.Type
		}
		switch t {
		case corev1.HostPathDirectoryOrCreate:
			if err := os.MkdirAll(hp, 0o755); err != nil {
				return "", err
			}
		case corev1.HostPathFileOrCreate:
			f, err := os.OpenFile(hp, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return "", err
			}
			f.Close()
		case corev1.HostPathDirectory, corev1.HostPathFile, corev1.HostPathSocket:
			if _, err := os.Stat(hp); err != nil {
				return "", fmt.Errorf("hostPath type check failed: %s is not a %s", hp, t)
			}
		}
		return hp, nil
	case v.PersistentVolumeClaim != nil:
		return k.pvcPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
	}
	files, err := k.volumeFiles(ctx, pod, v, podIP)
	if err != nil {
		return "", err
	}
	if files == nil {
		return "", fmt.Errorf("unsupported volume type")
	}
	if err := writeAtomic(path, files); err != nil {
		return "", err
	}
	return path, chownGroup(path, gid)
}

func (k *Kubelet) pvcPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := k.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %q: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := k.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolume %q: %w", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		if err := os.MkdirAll(pv.Spec.HostPath.Path, 0o777); err != nil {
			return "", err
		}
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q: only hostPath and local volumes are supported", pv.Name)
}

// volumeFiles renders the files of a configMap, secret, downwardAPI or
// projected volume; nil means v is none of these.
func (k *Kubelet) volumeFiles(ctx context.Context, pod *corev1.Pod, v corev1.Volume, podIP string) ([]volumeFile, error) {
	switch {
	case v.ConfigMap != nil:
		return k.configMapFiles(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode(v.ConfigMap.DefaultMode))
	case v.Secret != nil:
		return k.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode(v.Secret.DefaultMode))
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode), podIP)
	case v.Projected != nil:
		files := []volumeFile{}
		def := mode(v.Projected.DefaultMode)
		for _, src := range v.Projected.Sources {
			var fs []volumeFile
			var err error
			switch {
			case src.ConfigMap != nil:
				fs, err = k.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, def)
			case src.Secret != nil:
				fs, err = k.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, def)
			case src.DownwardAPI != nil:
				fs, err = downwardFiles(pod, src.DownwardAPI.Items, def, podIP)
			case src.ServiceAccountToken != nil:
				fs, err = k.tokenFiles(ctx, pod, src.ServiceAccountToken, def)
			}
			if err != nil {
				return nil, err
			}
			files = append(files, fs...)
		}
		return files, nil
	}
	return nil, nil
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m)
}

func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, kind, name string) ([]volumeFile, error) {
	var out []volumeFile
	if len(items) == 0 {
		for key, val := range data {
			out = append(out, volumeFile{key, val, def})
		}
		return out, nil
	}
	for _, it := range items {
		val, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out = append(out, volumeFile{it.Path, val, m})
	}
	return out, nil
}

func (k *Kubelet) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) ([]volumeFile, error) {
	cm, err := k.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if isOptional(optional) {
			return []volumeFile{}, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for key, v := range cm.Data {
		data[key] = []byte(v)
	}
	for key, v := range cm.BinaryData {
		data[key] = v
	}
	return keyFiles(data, items, def, "configmap", name)
}

func (k *Kubelet) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) ([]volumeFile, error) {
	sec, err := k.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if isOptional(optional) {
			return []volumeFile{}, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return keyFiles(sec.Data, items, def, "secret", name)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode, podIP string) ([]volumeFile, error) {
	var out []volumeFile
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath, podIP, "")
		case it.ResourceFieldRef != nil:
			c := &corev1.Container{}
			if len(pod.Spec.Containers) > 0 {
				c = &pod.Spec.Containers[0]
			}
			v, err = resourceValue(pod, c, it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out = append(out, volumeFile{it.Path, []byte(v), m})
	}
	return out, nil
}

// tokenFiles asks the API server for a bound service account token, as the
// kubelet's token manager does; a server without TokenRequest gets no file.
func (k *Kubelet) tokenFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, def os.FileMode) ([]volumeFile, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := k.tokens.token(ctx, pod, sa, src)
	if err != nil {
		k.log.Debug("service account token unavailable", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return []volumeFile{}, nil
	}
	return []volumeFile{{src.Path, []byte(tr), def}}, nil
}

// writeAtomic makes dir hold exactly files the way upstream's
// AtomicWriter does: the data sits in a timestamped directory, "..data"
// points at it, and each top-level name is a symlink through "..data", so
// a reader sees either the old or the new set, never a mix. Unchanged
// content is not rewritten.
func writeAtomic(dir string, files []volumeFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if same(dir, files) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	top := map[string]bool{}
	for _, f := range files {
		clean := filepath.Clean(f.path)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.HasPrefix(clean, "..") {
			return fmt.Errorf("invalid volume file path %q", f.path)
		}
		p := filepath.Join(ts, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
		top[strings.SplitN(clean, "/", 2)[0]] = true
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data")) // none on first write
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	// Drop names that left the set, and the old data directory.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") && !top[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if old != "" && old != filepath.Base(ts) {
		os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// same reports whether dir's current data equals files.
func same(dir string, files []volumeFile) bool {
	data := filepath.Join(dir, "..data")
	if _, err := os.Stat(data); err != nil {
		return false
	}
	n := 0
	err := filepath.WalkDir(data+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil || n != len(files) {
		return false
	}
	for _, f := range files {
		p := filepath.Join(data, filepath.Clean(f.path))
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return false
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != f.mode.Perm() {
			return false
		}
	}
	return true
}

// chownGroup gives fsGroup ownership of a volume tree, group-writable.
func chownGroup(root string, gid *int64) error {
	if gid == nil {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(*gid)); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Chmod(p, st.Mode()|0o060|os.ModeSetgid*boolMode(d.IsDir()))
	})
}

func boolMode(b bool) os.FileMode {
	if b {
		return 1
	}
	return 0
}

func isMountPoint(p string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// teardownVolumes unmounts tmpfs volumes and removes the pod's volume dirs.
// Host paths and persistent volumes are never touched.
func teardownVolumes(dir string) error {
	vdir := filepath.Join(dir, "volumes")
	entries, err := os.ReadDir(vdir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(vdir, e.Name())
		if isMountPoint(p) {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
				continue
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
