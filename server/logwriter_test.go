package server

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLogWriterFlushes(t *testing.T) {
	out := &syncWriter{w: &bytes.Buffer{}}
	w := NewLogWriter(out, 10*time.Millisecond)
	_, _ = w.Write([]byte("line one\n"))
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "line one") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "line one") {
		t.Fatal("not flushed by the ticker")
	}
	_, _ = w.Write([]byte("line two\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "line two") {
		t.Fatal("not flushed on Close")
	}
}
