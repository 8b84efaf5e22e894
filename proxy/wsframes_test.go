package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// clientFrame encodes a masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0, 0x80}
	switch n := len(payload); {
	case n < 126:
		h[1] |= byte(n)
	case n <= 0xffff:
		h[1] |= 126
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h[1] |= 127
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	key := []byte{1, 2, 3, 4}
	h = append(h, key...)
	for i, c := range payload {
		h = append(h, c^key[i%4])
	}
	return h
}

// readAnyFrame reads one frame (either side) and returns its opcode and
// unmasked payload.
func readAnyFrame(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	f, err := readClientFrame(r, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return f.op, f.payload
}

// relay starts inspectTunnel between a test client and a test upstream.
func relay(t *testing.T) (client net.Conn, clientR *bufio.Reader, up net.Conn, upR *bufio.Reader) {
	t.Helper()
	c1, c2 := net.Pipe()
	u1, u2 := net.Pipe()
	calls := func(msg []byte) []byte {
		if bytes.Contains(msg, []byte(`"exec"`)) {
			return []byte(`{"type":"res","ok":false}`)
		}
		return nil
	}
	go inspectTunnel(c2, bufio.NewReader(c2), u1, bufio.NewReader(u1), calls)
	t.Cleanup(func() { c1.Close(); u2.Close() })
	_ = c1.SetDeadline(time.Now().Add(10 * time.Second))
	_ = u2.SetDeadline(time.Now().Add(10 * time.Second))
	return c1, bufio.NewReader(c1), u2, bufio.NewReader(u2)
}

func TestInspectedRelay(t *testing.T) {
	t.Run("a harmless message passes byte for byte", func(t *testing.T) {
		c, _, _, upR := relay(t)
		raw := clientFrame(true, opText, []byte(`{"method":"chat.send"}`))
		go func() { _, _ = c.Write(raw) }()
		got := make([]byte, len(raw))
		if _, err := upR.Read(got); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("upstream got %x, want %x", got, raw)
		}
	})
	t.Run("a fragmented call is judged whole; control frames pass meanwhile", func(t *testing.T) {
		c, cR, _, upR := relay(t)
		go func() {
			_, _ = c.Write(clientFrame(false, opText, []byte(`{"method":"tools.invoke","params":{"tool":"e`)))
			_, _ = c.Write(clientFrame(true, 0x9, []byte("ping")))
			_, _ = c.Write(clientFrame(true, opContinuation, []byte(`xec"},"id":"1"}`)))
		}()
		if op, p := readAnyFrame(t, upR); op != 0x9 || string(p) != "ping" {
			t.Fatalf("upstream got op %x %q, want the ping", op, p)
		}
		if op, p := readAnyFrame(t, cR); op != opText || string(p) != `{"type":"res","ok":false}` {
			t.Fatalf("client got op %x %q", op, p)
		}
	})
	t.Run("binary messages are judged too", func(t *testing.T) {
		c, cR, _, _ := relay(t)
		go func() {
			_, _ = c.Write(clientFrame(true, opBinary, []byte(`{"method":"tools.invoke","params":{"tool":"exec"}}`)))
		}()
		if _, p := readAnyFrame(t, cR); !strings.Contains(string(p), `"ok":false`) {
			t.Fatalf("client got %q", p)
		}
	})
	t.Run("an answer never lands inside an upstream frame", func(t *testing.T) {
		c, cR, up, _ := relay(t)
		big := bytes.Repeat([]byte("x"), 200<<10)
		frame := serverFrame(opText, big)
		go func() {
			// The upstream sends a large frame in pieces while the
			// client's denied call is answered.
			for i := 0; i < len(frame); i += 7000 {
				_, _ = up.Write(frame[i:min(i+7000, len(frame))])
				if i == 7000 {
					_, _ = c.Write(clientFrame(true, opText, []byte(`{"method":"tools.invoke","params":{"tool":"exec"}}`)))
				}
			}
		}()
		var got [][]byte
		for len(got) < 2 {
			_, p := readAnyFrame(t, cR)
			got = append(got, p)
		}
		if !(bytes.Equal(got[0], big) && strings.Contains(string(got[1]), "ok") || bytes.Equal(got[1], big) && strings.Contains(string(got[0]), "ok")) {
			t.Fatalf("frames interleaved: %d and %d bytes", len(got[0]), len(got[1]))
		}
	})
	t.Run("a message over the limit closes with 1009", func(t *testing.T) {
		c, cR, _, _ := relay(t)
		go func() {
			_, _ = c.Write(clientFrame(false, opText, make([]byte, maxCallMessage/2)))
			_, _ = c.Write(clientFrame(true, opContinuation, make([]byte, maxCallMessage/2+1)))
		}()
		op, p := readAnyFrame(t, cR)
		if op != opClose || binary.BigEndian.Uint16(p) != 1009 {
			t.Fatalf("got op %x %x", op, p)
		}
	})
}
