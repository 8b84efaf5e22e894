// Package cookie names every cookie the gateway sets and decides the
// attributes they share. It is the one list the proxy uses to keep every
// gateway cookie away from the agent (in requests) and to refuse the
// agent's attempts to set one (in responses); a cookie not named here is
// the agent's.
package cookie

import (
	"net/http"
	"strings"
	"time"
)

// The gateway's cookies, by their base name. Behind https each gets the
// __Host- prefix (Secure, Path=/, no Domain: no other origin can set or
// overwrite it), except the forward-auth SSO cookie, which is
// domain-wide and so takes __Secure-.
const (
	// Session is the agent origin's session.
	Session = "gateway_session"
	// Admin is the admin origin's session. Browsers send a host's cookies
	// to every port of it, so the two origins' sessions need two names.
	Admin = "gateway_admin"
	// CSRF is the pre-session cookie of the sign-in and console forms.
	CSRF = "gateway_csrf"
	// KnownClient marks a browser that signed in with the owner's
	// credential before (the flood-proof sign-in bucket).
	KnownClient = "gateway_kc"
	// SSO is forward auth's domain-wide sign-in.
	SSO = "gateway_sso"
	// OIDC carries an OpenID sign-in's state, nonce and PKCE verifier.
	OIDC = "gateway_oidc"
)

// names are every base name, for IsGateway.
var names = []string{Session, Admin, CSRF, KnownClient, SSO, OIDC}

// Name returns the name a cookie has for a request resolved as proto:
// __Host- behind https.
func Name(base, proto string) string {
	if proto == "https" {
		if base == SSO {
			return "__Secure-" + base
		}
		return "__Host-" + base
	}
	return base
}

// IsGateway reports whether name is one of the gateway's cookies under any
// prefix and in any case (a browser treats __HOST- as no prefix at all, but
// an upstream framework may not).
func IsGateway(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "__host-")
	n = strings.TrimPrefix(n, "__secure-")
	for _, b := range names {
		if n == b {
			return true
		}
	}
	return false
}

// Set sets a host-only, HttpOnly cookie named base for the request's
// resolved proto (Secure behind https), with the given SameSite and expiry
// (zero: a session cookie).
func Set(w http.ResponseWriter, base, proto, value string, expires time.Time, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: Name(base, proto), Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: proto == "https", SameSite: sameSite})
}

// SetDomain sets a domain-wide cookie (forward auth's SSO cookie): sent to
// every host of domain, so it is accepted only where it is meant.
func SetDomain(w http.ResponseWriter, base, proto, value string, expires time.Time, domain string) {
	http.SetCookie(w, &http.Cookie{Name: Name(base, proto), Value: value, Path: "/", Domain: domain, Expires: expires,
		HttpOnly: true, Secure: proto == "https", SameSite: http.SameSiteLaxMode})
}

// ClearDomain drops a domain-wide cookie.
func ClearDomain(w http.ResponseWriter, base, proto, domain string) {
	http.SetCookie(w, &http.Cookie{Name: Name(base, proto), Value: "", Path: "/", Domain: domain, MaxAge: -1,
		HttpOnly: true, Secure: proto == "https", SameSite: http.SameSiteLaxMode})
}

// Only returns the value of the request's one cookie named base (for
// proto), or "" when it has none or several: a cookie planted beside the
// real one (by a sibling host, or a script on an http page) must not get
// to choose which is read.
func Only(r *http.Request, base, proto string) string {
	name := Name(base, proto)
	v, n := "", 0
	for _, c := range r.Cookies() {
		if c.Name == name {
			v, n = c.Value, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return v
}

// Clear tells the browser to drop the cookie.
func Clear(w http.ResponseWriter, base, proto string) {
	http.SetCookie(w, &http.Cookie{Name: Name(base, proto), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: proto == "https", SameSite: http.SameSiteLaxMode})
}

// accessProxyCookies carry the signed identity of an access proxy in front
// (Cloudflare Access, Pomerium, Google IAP): the same token as the
// assertion header, which the agent must not be able to replay. Lower
// case; a name ending in "*" is a prefix.
var accessProxyCookies = []string{"cf_authorization", "_pomerium", "gcp_iap_*"}

// isAccessProxy reports whether name is an access proxy's identity cookie.
func isAccessProxy(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, c := range accessProxyCookies {
		if p, ok := strings.CutSuffix(c, "*"); ok && strings.HasPrefix(n, p) || n == c {
			return true
		}
	}
	return false
}

// StripRequest removes every gateway cookie, and every access proxy's
// identity cookie, from the Cookie header(s) of h,
// keeping the rest byte for byte.
func StripRequest(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var keep []string
	changed := false
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			k, _, _ := strings.Cut(p, "=")
			if IsGateway(k) || isAccessProxy(k) {
				changed = true
				continue
			}
			keep = append(keep, p)
		}
	}
	if !changed && len(lines) == 1 {
		return
	}
	delete(h, "Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// StripResponse removes every Set-Cookie of h that would set a gateway
// cookie: the agent may set its own cookies, never the gateway's.
func StripResponse(h http.Header) {
	lines, ok := h["Set-Cookie"]
	if !ok {
		return
	}
	keep := lines[:0:0]
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		if !IsGateway(name) {
			keep = append(keep, line)
		}
	}
	if len(keep) == len(lines) {
		return
	}
	if len(keep) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = keep
}
