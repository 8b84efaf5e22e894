package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gateway/httperr"
	"gateway/request"
)

// formPost builds a form post carrying cookie (when not empty) and token.
func formPost(https bool, cookie, token string) *http.Request {
	body := url.Values{"csrf": {token}}.Encode()
	r := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: cookieName(https), Value: cookie})
	}
	return r
}

func TestCSRF(t *testing.T) {
	c := NewCSRF(func() []byte { return []byte("key one") })
	other := NewCSRF(func() []byte { return []byte("key two") })

	// First visit: a cookie is set and the token belongs to it.
	w := httptest.NewRecorder()
	tok := c.Token(w, httptest.NewRequest(http.MethodGet, "/auth/login", nil), true)
	var cookie *http.Cookie
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "__Host-gateway_csrf" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.Path != "/" || cookie.Domain != "" {
		t.Fatalf("pre-session cookie behind https = %+v, want __Host- prefixed, Secure, HttpOnly, Path=/", cookie)
	}
	if strings.Contains(tok, cookie.Value) {
		t.Fatal("the form token reveals the cookie")
	}

	// A second visit with the cookie reuses it: no new Set-Cookie.
	w2 := httptest.NewRecorder()
	r2 := httptest.NewRequest(http.MethodGet, "/auth/login", nil)
	r2.AddCookie(&http.Cookie{Name: "__Host-gateway_csrf", Value: cookie.Value})
	if c.Token(w2, r2, true) != tok || len(w2.Result().Cookies()) != 0 {
		t.Fatal("a returning browser got a new pre-session cookie")
	}

	forged := other.sign(cookie.Value)
	tests := []struct {
		name   string
		https  bool
		cookie string
		token  string
		ok     bool
	}{
		{"cookie and its token", true, cookie.Value, tok, true},
		{"no token", true, cookie.Value, "", false},
		{"no cookie", true, "", tok, false},
		{"token signed with another key", true, cookie.Value, forged, false},
		{"attacker's own cookie and token pair", true, strings.Repeat("A", 43), tok, false},
		{"short cookie", true, "abc", c.sign("abc"), false},
		{"cookie under the plain-http name behind https", false, cookie.Value, tok, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := formPost(tt.https, tt.cookie, tt.token)
			err := c.Check(r, true)
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPagesCarrySecurityHeadersAndNoScript(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter){
		"signin": func(w http.ResponseWriter) {
			RenderSignIn(w, http.StatusOK, SignIn{Offers: []Offer{{Field: "password"}, {Link: "/auth/oidc/start", Label: "Sign in with Example"}}, CSRF: "tok", RD: "/x"})
		},
		"console": func(w http.ResponseWriter) {
			RenderConsole(w, Console{CSRF: "tok", Pending: []PendingDevice{{RequestID: "r1", DeviceID: "d", Role: "admin"}}})
		},
		"status": func(w http.ResponseWriter) { RenderStatus(w, You{User: "owner"}) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			f(w)
			body := w.Body.String()
			if csp := w.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
				t.Fatalf("CSP = %q", csp)
			}
			if w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("headers = %v", w.Header())
			}
			if strings.Contains(body, "<script") || strings.Contains(body, " onclick=") || strings.Contains(body, "style=") {
				t.Fatal("a page carries inline script or style")
			}
			if !strings.Contains(body, `name="viewport"`) {
				t.Fatal("a page without a viewport is unreadable on a phone")
			}
		})
	}
}

func TestSignInEscapesWhatItIsGiven(t *testing.T) {
	w := httptest.NewRecorder()
	RenderSignIn(w, http.StatusOK, SignIn{Offers: []Offer{{Field: "password"}, {Link: "/auth/oidc/start", Label: "<i>Evil</i>"}},
		RD: `"><script>alert(1)</script>`, Message: "<b>x</b>"})
	if strings.Contains(w.Body.String(), "<script>alert") || strings.Contains(w.Body.String(), "<b>x</b>") || strings.Contains(w.Body.String(), "<i>Evil") {
		t.Fatal("sign-in page renders input unescaped")
	}
}

func TestErrorPageShowsPublicMessageOnly(t *testing.T) {
	tests := []struct {
		code    string
		status  int
		want    string
		retry   string
		wantAlt string
	}{
		{"host_not_allowed", http.StatusMisdirectedRequest, "gateway.allowedHosts", "", ""},
		{"untrusted_proxy", http.StatusForbidden, "gateway.trustedProxies", "", ""},
		{"rate_limited", http.StatusTooManyRequests, "Try again in 2 minutes", "100", ""},
		{"upstream_unreachable", http.StatusBadGateway, "agent is running", "", ""},
		{"store_unavailable", http.StatusServiceUnavailable, "shared store", "", ""},
		{"teapot", http.StatusTeapot, "I&#39;m a teapot", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			w := httptest.NewRecorder()
			if tt.retry != "" {
				w.Header().Set("Retry-After", tt.retry)
			}
			e := &httperr.Error{Status: tt.status, Code: tt.code, Msg: "public words",
				Err: errorString("secret-cause-hunter2")}
			// As the server wires it: the record of a navigation
			// carries the page renderer.
			ctx, rec := request.NewContext(context.Background())
			rec.Navigation, rec.Page = true, ErrorPage
			httperr.Write(w, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx), e)
			body := w.Body.String()
			if w.Code != tt.status || !strings.Contains(body, tt.want) || !strings.Contains(body, "public words") {
				t.Fatalf("status %d body %s", w.Code, body)
			}
			if strings.Contains(body, "hunter2") {
				t.Fatal("error page shows the cause")
			}
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestHumanSeconds(t *testing.T) {
	for in, want := range map[string]string{"": "a moment", "0": "a moment", "x": "a moment", "5": "5 seconds", "89": "89 seconds", "90": "2 minutes", "900": "15 minutes"} {
		if got := humanSeconds(in); got != want {
			t.Errorf("humanSeconds(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAssetsServeTheStylesheetOnly(t *testing.T) {
	h := Assets()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/assets/gateway.css", nil))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/assets/../templates/layout.html", nil))
	if w.Code == http.StatusOK {
		t.Fatal("assets serve a template")
	}
}
