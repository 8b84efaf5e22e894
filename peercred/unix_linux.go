package peercred

import (
	"net"
	"syscall"
)

// UnixOwner returns the uid of the process on the other end of a Unix
// socket connection (SO_PEERCRED: the credentials it connected with).
func UnixOwner(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, ErrUnknown
	}
	var cred *syscall.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil || cred == nil {
		return 0, ErrUnknown
	}
	return int(cred.Uid), nil
}
