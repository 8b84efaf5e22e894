package trust

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"gateway/request"
)

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		peer       string
		h          hdr
		wantStatus int
		wantCode   string
		// wantStripped lists headers the next handler must not see.
		wantStripped []string
		wantClient   string
	}{
		{name: "untrusted remote stripped", opts: Options{}, peer: "203.0.113.9:1",
			h:          hdr{{"X-Forwarded-For", "127.0.0.1"}, {"X-Real-IP", "127.0.0.1"}, {"Forwarded", "for=127.0.0.1"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "x"}, {"X-Forwarded-Port", "1"}},
			wantStatus: 200, wantClient: "203.0.113.9",
			wantStripped: []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port"}},
		{name: "untrusted loopback refused", opts: Options{}, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "6.6.6.6"}},
			wantStatus: 403, wantCode: "untrusted_proxy"},
		{name: "garbage refused", opts: Options{TrustedProxies: prefixes("127.0.0.1")}, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "zzz"}},
			wantStatus: 400, wantCode: "bad_forwarding_header"},
		{name: "trusted kept", opts: Options{TrustedProxies: prefixes("127.0.0.1")}, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7"}},
			wantStatus: 200, wantClient: "203.0.113.7"},
		{name: "bad peer", opts: Options{}, peer: "@unix", wantStatus: 400, wantCode: "bad_peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *http.Request
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })
			h := New(tt.opts).Middleware(next)
			req := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
			req.RemoteAddr = tt.peer
			req.Header = tt.h.header()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantCode != "" {
				var body struct{ Error, Code string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != tt.wantCode || body.Error == "" {
					t.Fatalf("body = %s (%v), want code %q", rec.Body, err, tt.wantCode)
				}
				if seen != nil {
					t.Fatal("refused request reached next")
				}
				return
			}
			record := request.FromContext(seen.Context())
			if record == nil || record.Client.String() != tt.wantClient {
				t.Fatalf("record = %+v; want client %s", record, tt.wantClient)
			}
			for _, k := range tt.wantStripped {
				if _, ok := seen.Header[k]; ok {
					t.Errorf("header %s reached next", k)
				}
			}
		})
	}
}
