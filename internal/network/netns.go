package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NewNetns creates a network namespace and pins it by bind-mounting it onto
// path (like `ip netns add`, but anywhere), with lo up. The namespace lives
// until DeleteNetns unmounts it and the last process in it exits.
func NewNetns(path string) (retErr error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("netns dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	defer func() {
		if retErr != nil {
			os.Remove(path)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		// The thread is switched to the new namespace and back. It stays
		// locked when this goroutine returns, so the Go runtime throws it
		// away instead of reusing a thread whose namespace may be wrong.
		runtime.LockOSThread()
		errc <- inNewNetns(path)
	}()
	return <-errc
}

func inNewNetns(path string) error {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("open current netns: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare netns: %w", err)
	}
	mountErr := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
	var loErr error
	if mountErr == nil {
		loErr = setLinkUp("lo")
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("return to host netns: %w", err)
	}
	if mountErr != nil {
		return fmt.Errorf("bind netns to %s: %w", path, mountErr)
	}
	if loErr != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		return fmt.Errorf("lo up: %w", loErr)
	}
	return nil
}

// setLinkUp sets IFF_UP on a link of the calling thread's network namespace.
func setLinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// DeleteNetns unpins a namespace made by NewNetns. A missing path is not an
// error, so deletion can be retried.
func DeleteNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// DialInNetns connects to addr from inside the network namespace pinned at
// path, so 127.0.0.1 means the sandbox's own loopback (port-forward). The
// socket keeps its namespace after the thread returns.
func DialInNetns(ctx context.Context, path, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Locked and never unlocked: the thread ends in the sandbox's
		// namespace, so the runtime must not reuse it.
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			done <- result{nil, fmt.Errorf("open netns: %w", err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{nil, fmt.Errorf("enter netns %s: %w", path, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
