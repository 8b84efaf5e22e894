package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"gateway/request"
)

// withRecord gives requests the record the gateway's middleware would: the
// upgrade kind, a stranger's trust decision, and optionally an identity.
func withRecord(h http.Handler, id *request.Identity) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, rec := request.NewContext(r.Context())
		rec.Upgrade = request.UpgradeOf(r)
		rec.Trust = request.Trust{Peer: netip.MustParseAddrPort("203.0.113.9:4000"), Client: netip.MustParseAddr("203.0.113.9"), Proto: "http", Host: r.Host}
		rec.Identity = id
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func TestOriginAllowed(t *testing.T) {
	p := New(Options{Upstream: NewUpstream(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}), AllowedOrigins: map[string]bool{"https://ui.example.com": true}})
	rec := &request.Record{Trust: request.Trust{Proto: "https", Host: "gw.example.com"}}
	tests := []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"https://ui.example.com", true},
		{"https://UI.example.com:443", true},
		{"http://ui.example.com", false},
		{"https://gw.example.com", true}, // same origin as the client sees the gateway
		{"https://evil.example", false},
		{"null", false},
		{"::garbage", false},
	}
	for _, tt := range tests {
		if got := p.originAllowed(tt.origin, rec); got != tt.want {
			t.Errorf("originAllowed(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	any := New(Options{Upstream: NewUpstream(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}), AllowAnyOrigin: true})
	if !any.originAllowed("https://evil.example", rec) {
		t.Error("AllowAnyOrigin refused an origin")
	}
}

func TestStripProtocolToken(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"bearer.secret"}, ""},
		{[]string{"chat, bearer.secret"}, "chat"},
		{[]string{"bearer.secret", "chat", "v2.proto"}, "chat, v2.proto"},
	}
	for _, tt := range tests {
		h := http.Header{"Sec-Websocket-Protocol": tt.in}
		stripProtocolToken(h)
		if got := h.Get("Sec-WebSocket-Protocol"); got != tt.want {
			t.Errorf("strip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestOutgoingStripsForgedIdentity: whatever mode authenticated the
// request, and whoever sent it (trusted proxy or not), no client-supplied
// identity header reaches the upstream, in any spelling an upstream
// framework might read as one.
func TestOutgoingStripsForgedIdentity(t *testing.T) {
	forged := map[string]string{
		"X-Forwarded-User": "alice", "X-Forwarded-Email": "a@x", "X-Forwarded-Groups": "admins",
		"X-Forwarded-Preferred-Username": "alice", "X-Auth-Request-User": "alice", "X-Auth-Request-Email": "a@x",
		"Remote-User": "alice", "Remote-Email": "a@x", "Remote-Groups": "admins", "Remote-Name": "Alice",
		"X-Remote-User": "alice", "X-Gateway-User": "alice", "X-Gateway-Auth": "token", "X-Gateway-Anything": "x",
		"X-OpenClaw-Scopes": "operator.admin", "X-Custom-User": "alice", "Forwarded": "for=1.2.3.4",
		"X-Forwarded-For": "1.2.3.4", "X-Real-Ip": "1.2.3.4", "X-Forwarded-Port": "1",
	}
	underscored := []string{"X_Gateway_User", "X_Forwarded_For", "Remote_User"}
	o := &Outgoing{PreserveHost: true, UserHeader: "x-custom-user", Identity: IdentityHeaders{User: "X-Agent-User", Method: "X-Agent-Auth"}}
	for _, id := range []*request.Identity{nil, {User: "owner", Method: "token", Role: request.RoleAdmin, Credential: request.CredentialAuthorization}} {
		in := httptest.NewRequest("GET", "http://agent.example.com/x?a=1;b=2", nil)
		for k, v := range forged {
			in.Header.Set(k, v)
		}
		for _, k := range underscored {
			in.Header[k] = []string{"alice"}
		}
		in.Header.Set("X-Agent-User", "mallory")
		in.Header.Set("Authorization", "Bearer gateway-token")
		in.Header.Set("Accept", "text/plain")
		ctx, rec := request.NewContext(in.Context())
		rec.Trust = request.Trust{Peer: netip.MustParseAddrPort("127.0.0.1:9"), Client: netip.MustParseAddr("203.0.113.7"), ForwardedFor: "203.0.113.7", Proto: "https", Host: "agent.example.com", PeerTrusted: true}
		rec.Identity = id
		in = in.WithContext(ctx)
		out := in.Clone(ctx)
		o.Build(in, out)
		for k := range forged {
			if k == "X-Forwarded-For" || k == "X-Real-Ip" {
				continue
			}
			if v := out.Header.Get(k); v != "" {
				t.Errorf("identity %v: %s = %q reached the upstream", id, k, v)
			}
		}
		for k := range out.Header {
			if strings.Contains(k, "_") {
				t.Errorf("identity %v: %s reached the upstream", id, k)
			}
		}
		if got := out.Header.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q", got)
		}
		if got := out.Header.Get("X-Real-Ip"); got != "203.0.113.7" {
			t.Errorf("X-Real-Ip = %q", got)
		}
		if out.Host != "agent.example.com" {
			t.Errorf("Host = %q, want the client's", out.Host)
		}
		if out.URL.RawQuery != "a=1" && out.URL.RawQuery != "" {
			t.Errorf("unparsable query passed: %q", out.URL.RawQuery)
		}
		if out.Header.Get("Accept") != "text/plain" {
			t.Error("an ordinary header was removed")
		}
		if id == nil {
			if out.Header.Get("X-Agent-User") != "" || out.Header.Get("Authorization") == "" {
				t.Errorf("no identity: %v", out.Header)
			}
			continue
		}
		if out.Header.Get("X-Agent-User") != "owner" || out.Header.Get("X-Agent-Auth") != "token" {
			t.Errorf("identity headers = %q %q", out.Header.Get("X-Agent-User"), out.Header.Get("X-Agent-Auth"))
		}
		if out.Header.Get("Authorization") != "" {
			t.Error("the gateway's own credential reached the upstream")
		}
	}
}

// TestOutgoingKeepsAnUnusedAuthorization: authenticated by Proxy-Authorization
// or a cookie, the client's Authorization is the upstream's and passes.
func TestOutgoingKeepsAnUnusedAuthorization(t *testing.T) {
	for _, cred := range []request.Credential{request.CredentialProxyAuthorization, request.CredentialCookie} {
		in := httptest.NewRequest("GET", "http://127.0.0.1/tools/invoke", nil)
		in.Header.Set("Authorization", "Bearer openclaw-token")
		in.Header.Set("Proxy-Authorization", "Bearer gateway-token")
		in.Header.Set("Cookie", "gateway_session=s; theme=dark")
		ctx, rec := request.NewContext(in.Context())
		rec.Trust = request.Trust{Peer: netip.MustParseAddrPort("127.0.0.1:9"), Client: netip.MustParseAddr("127.0.0.1"), Proto: "http", Host: "127.0.0.1"}
		rec.Identity = &request.Identity{User: "owner", Method: "token", Credential: cred}
		in = in.WithContext(ctx)
		out := in.Clone(ctx)
		(&Outgoing{}).Build(in, out)
		if out.Header.Get("Authorization") != "Bearer openclaw-token" || out.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("%v: Authorization %q, Proxy-Authorization %q", cred, out.Header.Get("Authorization"), out.Header.Get("Proxy-Authorization"))
		}
		if out.Header.Get("Cookie") != "theme=dark" {
			t.Errorf("%v: Cookie %q", cred, out.Header.Get("Cookie"))
		}
	}
}

// TestOutgoingCapsNonAdminScopes: OpenClaw grants a trusted-proxy identity
// its full operator scopes unless told otherwise, so a caller the gateway
// does not hold for the owner (a device approved as operator) is capped,
// and a client-sent X-OpenClaw-Scopes never survives either way.
func TestOutgoingCapsNonAdminScopes(t *testing.T) {
	for _, tt := range []struct {
		role, want string
	}{
		{request.RoleAdmin, ""},
		{request.RoleOperator, "operator.read,operator.write"},
		{request.RoleUser, "operator.read,operator.write"},
	} {
		in := httptest.NewRequest("GET", "http://127.0.0.1/tools/invoke", nil)
		in.Header.Set("X-OpenClaw-Scopes", "operator.admin")
		ctx, rec := request.NewContext(in.Context())
		rec.Trust = request.Trust{Peer: netip.MustParseAddrPort("127.0.0.1:9"), Client: netip.MustParseAddr("203.0.113.1"), Proto: "http", Host: "127.0.0.1"}
		rec.Identity = &request.Identity{User: "x", Method: "device", Role: tt.role}
		in = in.WithContext(ctx)
		out := in.Clone(ctx)
		(&Outgoing{}).Build(in, out)
		if got := out.Header.Get("X-OpenClaw-Scopes"); got != tt.want {
			t.Errorf("role %s: X-OpenClaw-Scopes %q, want %q", tt.role, got, tt.want)
		}
	}
}

// TestSameHostClientAttributed: a person on the gateway's own host (the
// resolved client is loopback) is named to the upstream as the configured
// same-host address, never as loopback and never without forwarding
// headers; anyone else keeps the chain as received.
func TestSameHostClientAttributed(t *testing.T) {
	same := netip.MustParseAddr("192.0.2.44")
	for _, tt := range []struct {
		client       string
		sameHost     bool
		wantXFF, xri string
	}{
		{"127.0.0.1", true, "192.0.2.44", "192.0.2.44"},
		{"::1", true, "192.0.2.44", "192.0.2.44"},
		{"203.0.113.1", false, "203.0.113.1, 127.0.0.1", "203.0.113.1"},
	} {
		in := httptest.NewRequest("GET", "http://127.0.0.1/x", nil)
		ctx, rec := request.NewContext(in.Context())
		rec.Trust = request.Trust{Peer: netip.MustParseAddrPort("127.0.0.1:9"), Client: netip.MustParseAddr(tt.client), SameHost: tt.sameHost,
			Proto: "http", Host: "127.0.0.1"}
		if !tt.sameHost {
			rec.ForwardedFor = tt.client
		}
		rec.Identity = &request.Identity{User: "owner", Method: "token", Role: request.RoleAdmin}
		in = in.WithContext(ctx)
		out := in.Clone(ctx)
		(&Outgoing{SameHostClient: same}).Build(in, out)
		if got := out.Header.Get("X-Forwarded-For"); got != tt.wantXFF {
			t.Errorf("%s: X-Forwarded-For %q, want %q", tt.client, got, tt.wantXFF)
		}
		if got := out.Header.Get("X-Real-Ip"); got != tt.xri {
			t.Errorf("%s: X-Real-IP %q, want %q", tt.client, got, tt.xri)
		}
	}
}
