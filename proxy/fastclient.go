package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// LeanTransport is an http.RoundTripper for plain-HTTP/1.1 upstream requests
// on a pool of persistent connections, without http.Transport's two
// goroutines and channel hand-offs per connection (about a quarter of the
// proxy's CPU in profiles). It parses only responses from the upstream (our
// own agent, trusted), with net/http's own ReadResponse; client requests are
// still parsed by net/http.Server. Upgrades, https and anything unusual go to
// Fallback, so WebSockets and TLS keep the standard transport.
type LeanTransport struct {
	// Fallback handles what the lean path does not: upgrades, https.
	Fallback http.RoundTripper
	// DialTimeout bounds connection setup. Default 5 s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers.
	// Default 5 min (agents think before they answer).
	ResponseHeaderTimeout time.Duration
	// IdleTimeout: a pooled connection unused this long is closed, never
	// reused. It must be shorter than the upstream's own keep-alive
	// timeout, or the upstream closes a connection just as it is reused
	// (Node closes idle keep-alives after 5 s). Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxIdle bounds pooled connections. Default 256.
	MaxIdle int

	mu   sync.Mutex
	idle map[string][]*leanConn // host:port -> LIFO
}

type leanConn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

var errStale = errors.New("lean transport: reused connection was closed by the upstream")

// DefaultIdleTimeout is how long a pooled upstream connection may sit idle:
// below Node's 5 s keep-alive, the shortest common upstream default.
const DefaultIdleTimeout = 4 * time.Second

func (t *LeanTransport) defaults() (dial, header, idle time.Duration, max int) {
	dial, header, idle, max = t.DialTimeout, t.ResponseHeaderTimeout, t.IdleTimeout, t.MaxIdle
	if dial <= 0 {
		dial = 5 * time.Second
	}
	if header <= 0 {
		header = 5 * time.Minute
	}
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if max <= 0 {
		max = 256
	}
	return
}

func (t *LeanTransport) get(addr string) *leanConn {
	_, _, idleFor, _ := t.defaults()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		t.idle = map[string][]*leanConn{}
	}
	list := t.idle[addr]
	for len(list) > 0 {
		lc := list[len(list)-1]
		list = list[:len(list)-1]
		if time.Since(lc.lastUsed) < idleFor && lc.alive() {
			t.idle[addr] = list
			return lc
		}
		_ = lc.c.Close()
	}
	t.idle[addr] = list
	return nil
}

// alive reports whether an idle connection is still open: nothing may be
// readable on it (an idle HTTP/1.1 connection receives nothing until it
// sends a request), so a readable EOF or stray bytes mean the upstream has
// closed it or broken the protocol. The check is a non-blocking read.
func (lc *leanConn) alive() bool {
	if lc.br.Buffered() > 0 {
		return false
	}
	_ = lc.c.SetReadDeadline(time.Now())
	_, err := lc.br.Peek(1)
	_ = lc.c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (t *LeanTransport) put(addr string, lc *leanConn) {
	_, _, _, max := t.defaults()
	lc.lastUsed = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*leanConn{}
	}
	if len(t.idle[addr]) < max {
		t.idle[addr] = append(t.idle[addr], lc)
		lc = nil
	}
	t.mu.Unlock()
	if lc != nil {
		_ = lc.c.Close()
	}
}

// lean reports whether r can take the lean path.
func lean(r *http.Request) bool {
	return r.URL.Scheme == "http" && r.Header.Get("Upgrade") == "" && r.Header.Get("Connection") == "" &&
		(r.ProtoMajor == 1 || r.ProtoMajor == 0 || r.ProtoMajor == 2)
}

// RoundTrip implements http.RoundTripper.
//
// A pooled connection can die under us at any moment: the upstream closes
// idle keep-alives (Node after 5 s), or closes after a response without
// saying so, and its FIN can arrive after we checked. So only a request
// that is harmless to send twice (idempotent, no body) rides a reused
// connection; if that fails before any response byte, it is retried once
// on a new connection, never another pooled one (which may be just as
// stale). Every other request (a POST) gets a new connection of its own and
// is never sent twice.
func (t *LeanTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !lean(r) {
		if t.Fallback == nil {
			return nil, errors.New("lean transport: no fallback for this request")
		}
		return t.Fallback.RoundTrip(r)
	}
	addr := addrOf(r.URL)
	retry := replayable(r)
	var lc *leanConn
	if retry {
		lc = t.get(addr)
	}
	reused := lc != nil
	if lc == nil {
		var err error
		if lc, err = t.dial(r.Context(), addr); err != nil {
			return nil, err
		}
	}
	resp, err := t.roundTrip(r, lc, addr)
	if err == nil {
		return resp, nil
	}
	_ = lc.c.Close()
	if !reused || r.Context().Err() != nil {
		return nil, err
	}
	if lc, err = t.dial(r.Context(), addr); err != nil {
		return nil, err
	}
	resp, err = t.roundTrip(r, lc, addr)
	if err != nil {
		_ = lc.c.Close()
	}
	return resp, err
}

// replayable reports whether sending r twice is harmless: an idempotent
// method (RFC 9110 9.2.2) or an Idempotency-Key, and no body to re-send.
func replayable(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

func (t *LeanTransport) dial(ctx context.Context, addr string) (*leanConn, error) {
	dialTO, _, _, _ := t.defaults()
	d := net.Dialer{Timeout: dialTO, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &leanConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

func (t *LeanTransport) roundTrip(r *http.Request, lc *leanConn, addr string) (*http.Response, error) {
	_, headerTO, _, _ := t.defaults()
	ctx := r.Context()
	// Cancellation closes the connection under the blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = lc.c.SetDeadline(time.Unix(1, 0)) })
	var body *errReader
	if r.Body != nil && r.Body != http.NoBody {
		// Request.Write hides the body's own error (e.g. the client's
		// body exceeding the limit) in an unexported wrapper; keep it.
		body = &errReader{rc: r.Body}
		r.Body = body
	}
	if err := r.Write(lc.bw); err != nil {
		stop()
		if body != nil && body.err != nil {
			return nil, body.err
		}
		return nil, wrapCtx(ctx, err)
	}
	if err := lc.bw.Flush(); err != nil {
		stop()
		return nil, wrapCtx(ctx, err)
	}
	_ = lc.c.SetReadDeadline(time.Now().Add(headerTO))
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(lc.br, r)
		if err != nil {
			stop()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("%w: %v", errStale, err)
			}
			return nil, wrapCtx(ctx, err)
		}
		// Informational answers (100 Continue, 103 Early Hints) precede
		// the real one; like http.Transport without a trace hook, skip
		// them. 101 is never expected here (upgrades take the fallback).
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		break
	}
	_ = lc.c.SetReadDeadline(time.Time{})
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, errors.New("lean transport: unexpected 101 on a non-upgrade request")
	}
	reusable := !resp.Close && !r.Close
	resp.Body = &leanBody{rc: resp.Body, t: t, lc: lc, addr: addr, reusable: reusable, stop: stop}
	return resp, nil
}

func wrapCtx(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// leanBody returns its connection to the pool once the body has been read
// to the end; a body closed early takes its connection down with it.
type leanBody struct {
	rc       io.ReadCloser
	t        *LeanTransport
	lc       *leanConn
	addr     string
	reusable bool
	stop     func() bool
	done     bool
}

func (b *leanBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *leanBody) finish(complete bool) {
	if b.done {
		return
	}
	b.done = true
	// stop reports false if the cancel already fired: the deadline is
	// poisoned, so the connection cannot be reused.
	active := b.stop()
	if complete && active && b.reusable {
		b.t.put(b.addr, b.lc)
		return
	}
	_ = b.lc.c.Close()
}

func (b *leanBody) Close() error {
	if !b.done {
		// Drain a small remainder so the connection can be reused;
		// anything larger is not worth reading.
		_, err := io.CopyN(io.Discard, b.rc, 4096)
		b.finish(err == io.EOF)
	}
	return nil
}

// CloseIdleConnections closes pooled connections.
func (t *LeanTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, list := range t.idle {
		for _, lc := range list {
			_ = lc.c.Close()
		}
		delete(t.idle, k)
	}
}

// errReader remembers the first read error of a request body. The error is
// passed on as it is, never turned into io.EOF: Request.Write writes a
// chunked body's terminating chunk only at io.EOF, and RoundTrip closes the
// connection after a failed write, so a body cut at its cap reaches the
// upstream as a truncated message it cannot mistake for a whole one (SPEC
// "Trust": an oversized chunked body aborts the upstream request).
type errReader struct {
	rc  io.ReadCloser
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (e *errReader) Close() error { return e.rc.Close() }
