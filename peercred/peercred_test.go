package peercred

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtureV4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4952 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 1 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:4952 01 00000000:00000000 00:00000000 00000000  1002        0 2 1 0 20 4 30 10 -1
   2: 0100007F:4952 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1001        0 3 1 0 20 4 30 10 -1
   3: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
`

const fixtureV6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:AAAA 00000000000000000000000001000000:4952 01 00000000:00000000 00:00000000 00000000  1003        0 5 1 0 20 4 30 10 -1
`

func withTables(t *testing.T, v4, v6 string) {
	dir := t.TempDir()
	p4, p6 := filepath.Join(dir, "tcp"), filepath.Join(dir, "tcp6")
	_ = os.WriteFile(p4, []byte(v4), 0o600)
	_ = os.WriteFile(p6, []byte(v6), 0o600)
	old := Tables
	Tables = [2]string{p4, p6}
	t.Cleanup(func() { Tables = old })
}

func TestTCPOwnerFixture(t *testing.T) {
	withTables(t, fixtureV4, fixtureV6)
	server := netip.MustParseAddrPort("127.0.0.1:18770")
	for _, c := range []struct {
		client string
		uid    int
		err    bool
	}{
		{"127.0.0.1:54321", 1002, false}, // the client's end, not the server's (1001)
		{"127.0.0.1:54322", 0, true},
		{"[::1]:43690", 0, true}, // connected to [::1]:18770, not 127.0.0.1
		{"192.0.2.1:54321", 0, true},
	} {
		uid, err := TCPOwner(netip.MustParseAddrPort(c.client), server)
		if (err != nil) != c.err || uid != c.uid {
			t.Errorf("%s: uid %d err %v", c.client, uid, err)
		}
	}
	if uid, err := TCPOwner(netip.MustParseAddrPort("[::1]:43690"), netip.MustParseAddrPort("[::1]:18770")); err != nil || uid != 1003 {
		t.Errorf("v6: %d %v", uid, err)
	}
	if uid, err := ListenerOwner(netip.MustParseAddrPort("127.0.0.1:18770")); err != nil || uid != 1001 {
		t.Errorf("listener: %d %v", uid, err)
	}
	if uid, err := ListenerOwner(netip.MustParseAddrPort("127.0.0.1:8080")); err != nil || uid != 0 {
		t.Errorf("wildcard listener: %d %v", uid, err)
	}
}

// TestTCPOwnerLive finds this process's own connection in the real table.
func TestTCPOwnerLive(t *testing.T) {
	if _, err := os.Stat(Tables[0]); err != nil {
		// CI runs on Linux, where the table always exists: missing
		// there is a failure, never a silent skip.
		if os.Getenv("CI") != "" {
			t.Fatal("no /proc/net/tcp on this system")
		}
		t.Skip("no /proc/net/tcp on this system")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	uid, err := TCPOwner(s.RemoteAddr().(*net.TCPAddr).AddrPort(), s.LocalAddr().(*net.TCPAddr).AddrPort())
	if err != nil || uid != os.Getuid() {
		t.Fatalf("own connection: uid %d err %v, want %d", uid, err, os.Getuid())
	}
	if uid, err := ListenerOwner(ln.Addr().(*net.TCPAddr).AddrPort()); err != nil || uid != os.Getuid() {
		t.Fatalf("own listener: %d %v", uid, err)
	}
	dir := t.TempDir()
	ul, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	uc, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	us, err := ul.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	if uid, err := UnixOwner(us.(*net.UnixConn)); err != nil || uid != os.Getuid() {
		t.Fatalf("unix peer: %d %v", uid, err)
	}
}

func FuzzScanTable(f *testing.F) {
	f.Add(fixtureV4)
	f.Add(fixtureV6)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = scanTable(strings.NewReader(s), func(netip.AddrPort, netip.AddrPort, byte) bool { return true })
	})
}
