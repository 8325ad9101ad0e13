package shim

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// The shim talks over unix sockets made with plain syscalls rather than the
// net package: importing net would make this package initialize after most
// of the berth binary's dependencies (see reexec.go).

// unixListener is a listening unix stream socket.
type unixListener struct {
	fd   int
	path string
}

// listenUnix listens on path, replacing a stale socket file.
func listenUnix(path string) (*unixListener, error) {
	os.Remove(path)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", path, err)
	}
	if err := syscall.Listen(fd, 64); err != nil {
		syscall.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return &unixListener{fd: fd, path: path}, nil
}

// Accept blocks (on its own thread) for the next connection and returns it
// as a pollable file, so reads, writes and deadlines go through the runtime.
func (l *unixListener) Accept() (*os.File, error) {
	for {
		nfd, _, err := syscall.Accept4(l.fd, syscall.SOCK_CLOEXEC)
		if err == syscall.EINTR || err == syscall.ECONNABORTED {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := syscall.SetNonblock(nfd, true); err != nil {
			syscall.Close(nfd)
			return nil, err
		}
		return os.NewFile(uintptr(nfd), "conn"), nil
	}
}

// Close wakes a blocked Accept (shutdown makes it fail), closes the socket
// and removes its file.
func (l *unixListener) Close() error {
	syscall.Shutdown(l.fd, syscall.SHUT_RDWR)
	err := syscall.Close(l.fd)
	os.Remove(l.path)
	return err
}

// join is filepath.Join for the absolute, clean paths the shim handles
// (path/filepath would also pull the shim's init late).
func join(parts ...string) string {
	return strings.ReplaceAll(strings.Join(parts, "/"), "//", "/")
}
