package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"syscall"
	"time"

	"gateway/cookie"
	"gateway/request"
)

// serveUpgrade proxies a WebSocket upgrade itself instead of through
// httputil.ReverseProxy, to hold idle connections cheaply: after the
// handshake the handler returns (releasing the request and net/http's
// per-connection buffers) and two small goroutines join the connections,
// borrowing a buffer only while bytes are in flight (see pump). The
// outgoing request is built by the same Outgoing.Build as every other
// proxied request, and the 101 is checked as httputil.ReverseProxy checks
// it.
func (p *Proxy) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	up, br, resp, err := p.handshake(r)
	if err != nil {
		p.errorHandler(w, r, err)
		return
	}
	switchedTo := resp.Header.Get("Upgrade")
	removeHopHeaders(resp.Header)
	cookie.StripResponse(resp.Header) // the agent never sets a gateway cookie
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The upstream refused the upgrade: relay its answer.
		defer up.Close()
		defer resp.Body.Close()
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, p.maxBody))
		return
	}
	if !strings.EqualFold(switchedTo, "websocket") {
		_ = up.Close()
		p.errorHandler(w, r, fmt.Errorf("upstream switched to protocol %q when websocket was requested", switchedTo))
		return
	}
	calls := request.FromContext(r.Context()).Calls
	if calls != nil && resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		// Compression was not offered; an upstream that uses it anyway
		// would make the messages unreadable to the rules.
		_ = up.Close()
		p.errorHandler(w, r, errors.New("upstream negotiated a WebSocket extension the gateway did not offer"))
		return
	}
	answerSubprotocol(r, resp.Header)
	client, cbuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = up.Close()
		p.errorHandler(w, r, err)
		return
	}
	_ = up.SetDeadline(time.Time{})
	// A plain tunnel: relay101 passes on what either side had already
	// buffered, then bytes move as they are. When the rules read this
	// connection's messages, the relay parses frames both ways instead,
	// starting with what is already buffered.
	clientBuf, upBuf := cbuf.Reader, br
	pump := func() { tunnel(client, up) }
	if calls != nil {
		clientBuf, upBuf = nil, nil
		pump = func() { inspectTunnel(client, cbuf.Reader, up, br, calls) }
	}
	if err := relay101(client, clientBuf, up, upBuf, resp.Header); err != nil {
		_ = client.Close()
		_ = up.Close()
		return
	}
	// Hand the two connections to the pump and return: the request and
	// its middleware state (and, for a plain tunnel, net/http's buffers
	// for this connection) are then garbage, which is most of what an
	// idle WebSocket would otherwise keep alive.
	if p.opts.OnTunnel != nil {
		p.opts.OnTunnel(1)
	}
	go func() {
		pump()
		if p.opts.OnTunnel != nil {
			p.opts.OnTunnel(-1)
		}
	}()
}

// handshake sends the upgrade request, built by the same Outgoing.Build as
// every proxied request, to the upstream and reads its answer. On success
// the caller owns up (its deadline still bounds the handshake).
func (p *Proxy) handshake(r *http.Request) (up net.Conn, br *bufio.Reader, resp *http.Response, err error) {
	ctx := r.Context()
	out := r.Clone(ctx)
	out.Body = http.NoBody
	out.ContentLength = 0
	out.RequestURI = ""
	p.rewrite(&httputil.ProxyRequest{In: r, Out: out})
	if request.FromContext(ctx).Calls != nil {
		// No permessage-deflate: the rules read the messages.
		out.Header.Del("Sec-WebSocket-Extensions")
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "")
	}
	up, err = p.opts.Upstream.Dial(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	_ = up.SetDeadline(time.Now().Add(30 * time.Second)) // the handshake only
	bw := bufio.NewWriterSize(up, 2048)
	if err = out.Write(bw); err == nil {
		err = bw.Flush()
	}
	if err == nil {
		br = bufio.NewReaderSize(up, 2048)
		resp, err = http.ReadResponse(br, out)
	}
	if err != nil {
		_ = up.Close()
		return nil, nil, nil, err
	}
	return up, br, resp, nil
}

// relay101 writes the upstream's 101 straight to the client connection,
// then the bytes either side sent early that are already in a buffer (nil
// buffers: the caller reads them itself).
func relay101(client net.Conn, clientBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader, h http.Header) error {
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "websocket")
	hw := bufio.NewWriterSize(client, 1024)
	_, _ = io.WriteString(hw, "HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.Write(hw)
	_, _ = io.WriteString(hw, "\r\n")
	if upBuf != nil && upBuf.Buffered() > 0 {
		b, _ := upBuf.Peek(upBuf.Buffered())
		_, _ = hw.Write(b)
	}
	if err := hw.Flush(); err != nil {
		return err
	}
	if clientBuf != nil && clientBuf.Buffered() > 0 {
		b, _ := clientBuf.Peek(clientBuf.Buffered())
		if _, err := up.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// tunnel copies both ways until either side ends, then closes both.
func tunnel(a, b net.Conn) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { _ = a.Close(); _ = b.Close() }) }
	done := make(chan struct{})
	go func() {
		_ = pump(b, a)
		closeBoth()
		close(done)
	}()
	_ = pump(a, b)
	closeBoth()
	<-done
}

// pumpBufs are borrowed only while bytes are in flight.
var pumpBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// pump copies src to dst. An idle connection waits for readability in the
// netpoller without holding a buffer (syscall.RawConn.Read), so ten
// thousand idle WebSockets cost goroutines and sockets, not buffers. Other
// connection types fall back to io.Copy.
func pump(dst, src net.Conn) error {
	tc, ok := src.(*net.TCPConn)
	if !ok {
		_, err := io.Copy(dst, src)
		return err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		_, err = io.Copy(dst, src)
		return err
	}
	for {
		var buf *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			b := pumpBufs.Get().(*[]byte)
			for {
				n, rerr = syscall.Read(int(fd), *b)
				if rerr != syscall.EINTR {
					break
				}
			}
			if rerr == syscall.EAGAIN {
				pumpBufs.Put(b)
				return false // wait for readability, holding nothing
			}
			buf = b
			return true
		})
		if err != nil {
			if buf != nil {
				pumpBufs.Put(buf)
			}
			return err
		}
		if n > 0 {
			_, werr := dst.Write((*buf)[:n])
			pumpBufs.Put(buf)
			if werr != nil {
				return werr
			}
			continue
		}
		pumpBufs.Put(buf)
		if rerr != nil {
			return rerr
		}
		return io.EOF // n == 0: the peer closed
	}
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}
