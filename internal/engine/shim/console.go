package shim

import (
	"fmt"
	"net"
	"os"

	"syscall"
	"unsafe"
)

// ConsoleSocket listens on path for runc's --console-socket: runc connects
// and passes the pty master as SCM_RIGHTS.
type ConsoleSocket struct {
	l    *net.UnixListener
	path string
}

// NewConsoleSocket listens on path (removed again by Close).
func NewConsoleSocket(path string) (*ConsoleSocket, error) {
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ConsoleSocket{l: l, path: path}, nil
}

// Path is the socket path to give runc.
func (c *ConsoleSocket) Path() string { return c.path }

// ReceiveMaster waits for runc's connection and returns the pty master.
func (c *ConsoleSocket) ReceiveMaster() (*os.File, error) {
	conn, err := c.l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	oob := make([]byte, syscall.CmsgSpace(4))
	buf := make([]byte, 4096)
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: read: %w", err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: no control message: %v", err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: no fd: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// Close stops listening and removes the socket file.
func (c *ConsoleSocket) Close() error {
	err := c.l.Close()
	os.Remove(c.path)
	return err
}

// Resize sets the window size of a pty master.
func Resize(master *os.File, width, height uint16) error {
	ws := struct{ row, col, x, y uint16 }{row: height, col: width}
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return errno
	}
	return nil
}
