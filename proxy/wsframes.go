package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
)

// The WebSocket relay for connections whose messages the access rules
// read (record.Calls): frames are parsed both ways (RFC 6455 5.2), the
// client's messages reassembled and judged before they are forwarded, and
// an answer of the gateway's own written to the client between the
// upstream's frames. Compression was refused in the handshake, so every
// payload is readable.

// maxCallMessage bounds a reassembled client message (OpenClaw itself
// refuses client frames over 64 KiB).
const maxCallMessage = 1 << 20

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

var errMessageTooBig = errors.New("websocket message over the gateway's limit")

// frame is one client frame as received.
type frame struct {
	fin     bool
	op      byte
	raw     []byte // the whole frame, header and masked payload, to forward
	payload []byte // unmasked
}

// readClientFrame reads one frame, at most limit bytes of payload.
func readClientFrame(r *bufio.Reader, limit int) (frame, error) {
	var f frame
	head := make([]byte, 2, 14)
	if _, err := io.ReadFull(r, head); err != nil {
		return f, err
	}
	f.fin, f.op = head[0]&0x80 != 0, head[0]&0x0f
	masked := head[1]&0x80 != 0
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		ext := make([]byte, 2)
		if _, err := io.ReadFull(r, ext); err != nil {
			return f, err
		}
		head = append(head, ext...)
		n = uint64(binary.BigEndian.Uint16(ext))
	case 127:
		ext := make([]byte, 8)
		if _, err := io.ReadFull(r, ext); err != nil {
			return f, err
		}
		head = append(head, ext...)
		n = binary.BigEndian.Uint64(ext)
	}
	if n > uint64(limit) {
		return f, errMessageTooBig
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
		head = append(head, key[:]...)
	}
	f.raw = make([]byte, len(head)+int(n))
	copy(f.raw, head)
	if _, err := io.ReadFull(r, f.raw[len(head):]); err != nil {
		return f, err
	}
	f.payload = make([]byte, n)
	copy(f.payload, f.raw[len(head):])
	if masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// serverFrame encodes an unmasked frame from the server side.
func serverFrame(op byte, payload []byte) []byte {
	h := []byte{0x80 | op, 0}
	switch n := len(payload); {
	case n < 126:
		h[1] = byte(n)
	case n <= 0xffff:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	return append(h, payload...)
}

// closeFrame is a close frame with code, from the server side.
func closeFrame(code uint16) []byte {
	return serverFrame(opClose, binary.BigEndian.AppendUint16(nil, code))
}

// lockedWriter serialises whole frames to the client: the upstream's, and
// the gateway's own answers.
type lockedWriter struct {
	mu sync.Mutex
	w  net.Conn
}

func (l *lockedWriter) write(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.w.Write(b)
	return err
}

// inspectTunnel relays a WebSocket whose client messages calls judges.
// clientBuf and upBuf read the two connections (holding what either side
// sent before the relay began).
func inspectTunnel(client net.Conn, clientBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader, calls func([]byte) []byte) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { _ = client.Close(); _ = up.Close() }) }
	toClient := &lockedWriter{w: client}
	done := make(chan struct{})
	go func() {
		_ = copyServerFrames(toClient, upBuf)
		closeBoth()
		close(done)
	}()
	err := judgeClientFrames(up, clientBuf, toClient, calls)
	if errors.Is(err, errMessageTooBig) {
		_ = toClient.write(closeFrame(1009))
	}
	closeBoth()
	<-done
}

// judgeClientFrames forwards the client's frames: control frames at once;
// a message's data frames once the whole message is in and calls let it
// pass. A message calls answers is dropped and its answer written to the
// client.
func judgeClientFrames(up net.Conn, r *bufio.Reader, toClient *lockedWriter, calls func([]byte) []byte) error {
	var held []frame
	size := 0
	for {
		f, err := readClientFrame(r, maxCallMessage-size)
		if err != nil {
			return err
		}
		if f.op >= opClose {
			if _, err := up.Write(f.raw); err != nil {
				return err
			}
			continue
		}
		if (f.op == opContinuation) != (len(held) > 0) {
			return errors.New("websocket: continuation frame out of place")
		}
		held = append(held, f)
		size += len(f.payload)
		if !f.fin {
			continue
		}
		msg := make([]byte, 0, size)
		for _, h := range held {
			msg = append(msg, h.payload...)
		}
		if answer := calls(msg); answer != nil {
			if err := toClient.write(serverFrame(opText, answer)); err != nil {
				return err
			}
		} else {
			for _, h := range held {
				if _, err := up.Write(h.raw); err != nil {
					return err
				}
			}
		}
		held, size = held[:0], 0
	}
}

// copyServerFrames copies the upstream's frames to the client whole, each
// under the writer's lock, so an answer of the gateway's never lands in the
// middle of one.
func copyServerFrames(toClient *lockedWriter, r *bufio.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		head := make([]byte, 2, 14)
		if _, err := io.ReadFull(r, head); err != nil {
			return err
		}
		n := uint64(head[1] & 0x7f)
		switch n {
		case 126:
			ext := make([]byte, 2)
			if _, err := io.ReadFull(r, ext); err != nil {
				return err
			}
			head, n = append(head, ext...), uint64(binary.BigEndian.Uint16(ext))
		case 127:
			ext := make([]byte, 8)
			if _, err := io.ReadFull(r, ext); err != nil {
				return err
			}
			head, n = append(head, ext...), binary.BigEndian.Uint64(ext)
		}
		if head[1]&0x80 != 0 {
			key := make([]byte, 4)
			if _, err := io.ReadFull(r, key); err != nil {
				return err
			}
			head = append(head, key...)
		}
		toClient.mu.Lock()
		_, err := toClient.w.Write(head)
		for err == nil && n > 0 {
			chunk := buf[:min(uint64(len(buf)), n)]
			if _, err = io.ReadFull(r, chunk); err == nil {
				_, err = toClient.w.Write(chunk)
				n -= uint64(len(chunk))
			}
		}
		toClient.mu.Unlock()
		if err != nil {
			return err
		}
	}
}
