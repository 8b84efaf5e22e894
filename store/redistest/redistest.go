// Package redistest starts a real redis-server for tests: Debian's binary,
// on a random loopback port, in a temp dir, with no persistence (--save ”
// --appendonly no), never the system service. Without the binary the test
// fails when CI is set and is skipped otherwise.
package redistest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Password is the requirepass, "" for none.
	Password string

	// CAFile, for a TLS server, is the PEM of its self-signed
	// certificate, for clients to trust (SSL_CERT_FILE).
	CAFile string

	t   testing.TB
	bin string
	dir string
	cmd *exec.Cmd
	tls *tls.Config
}

// Binary returns the redis-server path, failing (CI) or skipping the test
// when it is missing.
func Binary(t testing.TB) string {
	t.Helper()
	for _, c := range []string{"redis-server", "/usr/bin/redis-server", "/usr/sbin/redis-server"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "redis-server not found; install it with: apt-get install -y --no-install-recommends redis-server (make test does this)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start runs a redis-server for the test; it is killed when the test ends.
// password, when not empty, is required of clients.
func Start(t testing.TB, password string) *Server {
	t.Helper()
	return run(t, password, false)
}

// StartTLS is Start with TLS only (no plain port): a self-signed
// certificate for 127.0.0.1, in CAFile.
func StartTLS(t testing.TB, password string) *Server {
	t.Helper()
	return run(t, password, true)
}

func run(t testing.TB, password string, withTLS bool) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), Password: password}
	if withTLS {
		s.writeCert()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	_ = ln.Close()
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// (rediss:// with TLS) URL, database 0.
func (s *Server) URL() string { return s.URLDB(0) }

// URLDB is URL for database db.
func (s *Server) URLDB(db int) string {
	scheme := "redis://"
	if s.tls != nil {
		scheme = "rediss://"
	}
	auth := ""
	if s.Password != "" {
		auth = ":" + s.Password + "@"
	}
	return scheme + auth + s.Addr + "/" + strconv.Itoa(db)
}

// writeCert makes the server's certificate and key, and the client side's
// TLS configuration that trusts it.
func (s *Server) writeCert() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		s.t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	s.CAFile = filepath.Join(s.dir, "cert.pem")
	_ = os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(s.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func (s *Server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log")}
	if s.tls != nil {
		args[1] = "0"
		args = append(args, "--tls-port", port, "--tls-cert-file", s.CAFile, "--tls-key-file", filepath.Join(s.dir, "key.pem"), "--tls-auth-clients", "no")
	}
	if s.Password != "" {
		args = append(args, "--requirepass", s.Password)
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.Password, DisableIdentity: true, MaxRetries: -1, TLSConfig: s.tls})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on %s did not answer in 10 s: %v\n%s", s.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (no save: its data is gone, as after a crash).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Client returns a client of the server's database 0, closed when the
// test ends.
func (s *Server) Client() *redis.Client { return s.ClientDB(0) }

// ClientDB returns a client of database db.
func (s *Server) ClientDB(db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.Password, DB: db, DisableIdentity: true, TLSConfig: s.tls})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Pause stops the server process without closing its sockets (SIGSTOP): a
// Redis that accepts and never answers.
func (s *Server) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}
