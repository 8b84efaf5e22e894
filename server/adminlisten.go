package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"

	"gateway/peercred"
	"gateway/trust"
)

// ListenAdminUnix listens for the admin origin on a Unix socket at path
// (mode 0660; a socket left by an earlier run is replaced, any other file
// is an error). Each connection's peer is checked with SO_PEERCRED: a uid
// outside uids is closed before it sends a byte. Reach it from another
// machine with ssh -L 9000:/path/admin.sock.
func ListenAdminUnix(path string, uids []int) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("admin listener: %s exists and is not a socket", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin listener unix:%s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return &uidListener{Listener: ln, uids: slices.Clone(uids)}, nil
}

// uidListener accepts only peers of the local users.
type uidListener struct {
	net.Listener
	uids []int
}

func (l *uidListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			_ = c.Close()
			return nil, errors.New("admin listener: not a Unix socket connection")
		}
		uid, err := peercred.UnixOwner(uc)
		if err != nil || !slices.Contains(l.uids, uid) {
			_ = c.Close()
			continue
		}
		return &uidConn{Conn: c, uid: uid}, nil
	}
}

// uidConn is a Unix-socket connection whose peer's uid is known.
type uidConn struct {
	net.Conn
	uid int
}

// AdminConnContext is the admin server's ConnContext: a Unix-socket peer's
// uid goes into the connection's context, where trust finds it (such a
// peer is on this host, and its user is known without a /proc lookup).
func AdminConnContext(ctx context.Context, c net.Conn) context.Context {
	if uc, ok := c.(*uidConn); ok {
		return trust.WithPeerUID(ctx, uc.uid)
	}
	return ctx
}
