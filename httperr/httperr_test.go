package httperr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gateway/request"
)

func TestWrite(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.7:5432: password=hunter2")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantHeader string
	}{
		{"typed", New(http.StatusForbidden, "forbidden", "admin only", secret), 403, "forbidden", ""},
		{"wrapped", fmt.Errorf("ctx: %w", New(http.StatusTeapot, "teapot", "short and stout", nil)), 418, "teapot", ""},
		{"untyped becomes 500 without internals", secret, 500, "internal", ""},
		{"a client that went away, whatever wrapped it", fmt.Errorf("state store unavailable: redis load: %w", context.Canceled), StatusClientGone, "client_gone", ""},
		{"extra headers", &Error{Status: 429, Code: "rate_limited", Msg: "slow down", Header: http.Header{"Retry-After": {"7"}}}, 429, "rate_limited", "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r, record := request.Ensure(httptest.NewRequest("GET", "/", nil))
			Write(rec, r, tt.err)
			if record.Cause != tt.err {
				t.Fatalf("cause %v not recorded for the access log", record.Cause)
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			var body struct{ Error, Code string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != tt.wantCode || body.Error == "" {
				t.Fatalf("body %s (%v)", rec.Body, err)
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Fatalf("internal detail leaked: %s", rec.Body)
			}
			if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("headers %v", rec.Header())
			}
			if rec.Header().Get("Retry-After") != tt.wantHeader {
				t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
		})
	}
	// The cause stays reachable for the log.
	e := New(400, "bad", "bad", secret)
	if !errors.Is(e, secret) || !strings.Contains(e.Error(), "hunter2") {
		t.Fatal("cause not kept for logging")
	}
}
