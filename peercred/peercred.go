// Package peercred finds which Unix user is on the other end of a local
// connection, the way Tailscale's local API checks its peer: for TCP on
// loopback by the connection's address pair in /proc/net/tcp and
// /proc/net/tcp6 (Linux), for a Unix socket with SO_PEERCRED. It also finds
// the user that owns a listening socket (the audit's "does the agent run as
// the gateway's user"). It never guesses: an owner it cannot find is
// reported as unknown, and unknown is never "local".
package peercred

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"strconv"
)

// ErrUnknown means the owner could not be found (not Linux, no /proc, the
// socket is gone, or it is not on this host).
var ErrUnknown = errors.New("socket owner unknown")

// Tables are the /proc files read, IPv4 then IPv6; tests point them at
// fixtures.
var Tables = [2]string{"/proc/net/tcp", "/proc/net/tcp6"}

// TCPOwner returns the uid owning the socket whose local address is client
// and whose remote address is server: the client's end of a connection the
// gateway accepted on server from client. Both must be loopback: the table
// only describes this host's sockets.
func TCPOwner(client, server netip.AddrPort) (int, error) {
	if !client.Addr().Unmap().IsLoopback() || !server.Addr().Unmap().IsLoopback() {
		return 0, ErrUnknown
	}
	return scan(func(local, remote netip.AddrPort, state byte) bool {
		return state != stateListen && same(local, client) && same(remote, server)
	})
}

// ListenerOwner returns the uid owning a socket listening on port at addr
// (or on the wildcard address, which also takes addr's connections).
func ListenerOwner(addr netip.AddrPort) (int, error) {
	return scan(func(local, _ netip.AddrPort, state byte) bool {
		if state != stateListen || local.Port() != addr.Port() {
			return false
		}
		a := local.Addr().Unmap()
		return a.IsUnspecified() || a == addr.Addr().Unmap()
	})
}

// stateListen is TCP_LISTEN in the st column.
const stateListen = 0x0A

func same(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// scan returns the uid of the first socket of either table that match
// accepts.
func scan(match func(local, remote netip.AddrPort, state byte) bool) (int, error) {
	for _, path := range Tables {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		uid, err := scanTable(f, match)
		_ = f.Close()
		if err == nil {
			return uid, nil
		}
	}
	return 0, ErrUnknown
}

// scanTable reads one table in the kernel's format:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
//
// where addresses are hex, each 32-bit word in host byte order.
func scanTable(r io.Reader, match func(local, remote netip.AddrPort, state byte) bool) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 4096)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 8 {
			continue
		}
		local, err1 := parseAddr(f[1])
		remote, err2 := parseAddr(f[2])
		st, err3 := strconv.ParseUint(string(f[3]), 16, 8)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if !match(local, remote, byte(st)) {
			continue
		}
		uid, err := strconv.Atoi(string(f[7]))
		if err != nil || uid < 0 {
			return 0, ErrUnknown
		}
		return uid, nil
	}
	return 0, ErrUnknown
}

// parseAddr parses "0100007F:1F90" (IPv4) or 32 hex digits ":" port (IPv6).
func parseAddr(b []byte) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, ErrUnknown
	}
	raw := make([]byte, hex.DecodedLen(i))
	if _, err := hex.Decode(raw, b[:i]); err != nil {
		return netip.AddrPort{}, ErrUnknown
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, ErrUnknown
	}
	// Each 32-bit word is in the host's byte order (little-endian on the
	// machines this runs on); put them in network order.
	if len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, ErrUnknown
	}
	for w := 0; w < len(raw); w += 4 {
		binary.BigEndian.PutUint32(raw[w:], binary.NativeEndian.Uint32(raw[w:]))
	}
	a, ok := netip.AddrFromSlice(raw)
	if !ok {
		return netip.AddrPort{}, ErrUnknown
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
