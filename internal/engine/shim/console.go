package shim

import (
	"fmt"
	"os"

	"syscall"
	"unsafe"
)

// ConsoleSocket listens on path for runc's --console-socket: runc connects
// and passes the pty master as SCM_RIGHTS.
type ConsoleSocket struct {
	l *unixListener
}

// NewConsoleSocket listens on path (removed again by Close).
func NewConsoleSocket(path string) (*ConsoleSocket, error) {
	l, err := listenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ConsoleSocket{l: l}, nil
}

// Path is the socket path to give runc.
func (c *ConsoleSocket) Path() string { return c.l.path }

// ReceiveMaster waits for runc's connection and returns the pty master.
func (c *ConsoleSocket) ReceiveMaster() (*os.File, error) {
	conn, err := c.l.Accept()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	oob := make([]byte, syscall.CmsgSpace(4))
	buf := make([]byte, 4096)
	var oobn int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		_, oobn, _, _, rerr = syscall.Recvmsg(int(fd), buf, oob, 0)
		return rerr != syscall.EAGAIN
	})
	if err == nil {
		err = rerr
	}
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
func (c *ConsoleSocket) Close() error { return c.l.Close() }

// Resize sets the window size of a pty master.
func Resize(master *os.File, width, height uint16) error {
	ws := struct{ row, col, x, y uint16 }{row: height, col: width}
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return errno
	}
	return nil
}
