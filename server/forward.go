package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"gateway/access"
	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/proxy"
	"gateway/request"
)

// Forward auth: the proxy in front asks GET /auth/verify, on the app's own
// host name, whether a request to another app on the host may pass, and
// copies the identity from the answer (SPEC "Forward auth for the other
// apps on the host"). Those host names answer /auth/* only; nothing there
// is ever proxied to the agent.

// errNoOriginal is a verify request that does not say which request it is
// about.
var errNoOriginal = errors.New("forward auth: no original request (X-Forwarded-Uri or X-Original-URI from a trusted proxy)")

// forwardAuth serves the app hosts.
type forwardAuth struct {
	a       *auth.Authenticator
	rules   *access.Engine
	allow   bool // defaultAction: allow
	compat  bool
	preflt  bool
	ids     proxy.IdentityHeaders
	hosts   []string // lower case, with a port when the entry names one
	signIn  string   // the agent's sign-in page, absolute
	signOut string   // the agent's sign-out page, absolute
}

func newForwardAuth(cfg *config.Config, authn *auth.Authenticator) forwardAuth {
	fa := forwardAuth{a: authn, rules: access.New(cfg.Typed.Access), allow: cfg.Typed.ForwardAllow,
		compat: cfg.Gateway.ForwardAuth.CompatHeaders, preflt: cfg.Gateway.ForwardAuth.AllowPreflight,
		ids:   proxy.IdentityHeaders{User: cfg.Typed.UpstreamUserHeader, Method: cfg.Typed.UpstreamMethodHeader}.Canonical(),
		hosts: cfg.Typed.ForwardHosts}
	if u := cfg.Typed.PublicURL; u != nil {
		fa.signIn, fa.signOut = u.String()+"/auth/login", u.String()+"/auth/logout"
	}
	return fa
}

// serves reports whether host (a Host value, maybe with a port) is an app
// forward auth protects: an entry with a port matches that port only, one
// without matches the name on any port.
func (fa forwardAuth) serves(host string) bool {
	h := strings.ToLower(host)
	name := hostName(host)
	for _, e := range fa.hosts {
		if e == h || e == name {
			return true
		}
	}
	return false
}

// mount adds the app hosts' routes: /auth/verify, and the sign-in and
// sign-out pages, which live on the agent's origin.
func (fa forwardAuth) mount(r chi.Router) {
	r.HandleFunc("/auth/verify", fa.verify)
	r.Get("/auth/login", fa.toAgent(fa.signIn))
	r.Get("/auth/logout", fa.toAgent(fa.signOut))
	r.NotFound(notFound)
}

// toAgent sends a browser to the agent's own page, with where it came from.
func (fa forwardAuth) toAgent(page string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := request.FromContext(r.Context())
		rd := r.URL.Query().Get("rd")
		if rd == "" {
			rd = rec.Proto + "://" + rec.Host + "/"
		}
		http.Redirect(w, r, page+"?rd="+url.QueryEscape(rd), http.StatusSeeOther)
	}
}

// compatNames are oauth2-proxy's and Authelia's headers, in the order
// user, email, groups.
var compatNames = [][3]string{
	{"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups"},
	{"Remote-User", "Remote-Email", "Remote-Groups"},
}

// answer writes every identity header, empty when unknown: a proxy that
// copies headers could otherwise let the client's own copy of a missing
// one through.
func (fa forwardAuth) answer(w http.ResponseWriter, id *request.Identity) {
	h := w.Header()
	fa.ids.Write(h, id)
	if fa.compat {
		user, email, groups := "", "", ""
		if id != nil {
			user, email, groups = id.User, id.Email, strings.Join(id.Groups, ",")
		}
		for _, n := range compatNames {
			h[n[0]], h[n[1]], h[n[2]] = []string{user}, []string{email}, []string{groups}
		}
	}
	h.Set("Cache-Control", "no-store")
}

// verify answers the proxy: 200 with the identity, 401 with where to sign
// in, 403 when the rules deny the original request.
func (fa forwardAuth) verify(w http.ResponseWriter, r *http.Request) {
	rec := request.FromContext(r.Context())
	fa.answer(w, nil)
	if !rec.PeerTrusted {
		httperr.Write(w, r, httperr.New(http.StatusForbidden, "untrusted_proxy", "forward auth answers only the proxies in gateway.trustedProxies", errors.New("forward auth from an untrusted peer")))
		return
	}
	if rec.OriginalBad || rec.OriginalURI == "" {
		httperr.Write(w, r, httperr.New(http.StatusBadRequest, "bad_request", "the proxy did not say which request to check (X-Forwarded-Uri, X-Original-URI)", errNoOriginal))
		return
	}
	rt, err := access.RoutePath(rec.OriginalURI)
	if err != nil {
		httperr.Write(w, r, httperr.New(http.StatusBadRequest, "ambiguous_path", "this request-target can be read more than one way; send the plain path", err))
		return
	}
	method := rec.OriginalMethod
	if method == "" {
		method = http.MethodGet
	}
	q := access.Request{Method: method, Path: rt.Match, Host: hostName(rec.Host)}
	if i := fa.rules.Bypass(&q); i >= 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	if fa.preflt && method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" &&
		r.Header.Get("Proxy-Authorization") == "" && r.Header.Get("Cookie") == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	id, err := fa.a.AuthenticateForward(r)
	if err != nil {
		fa.unauthenticated(w, r, err, method)
		return
	}
	rec.Identity = id
	if d := fa.rules.Forward(id, &q, fa.allow); d.Deny {
		cause := fmt.Errorf("%w: no rule allows %s %s on %s for %s (forwardAuth.defaultAction deny)", access.ErrDenied, method, q.Path, q.Host, id.User)
		msg := "no rule allows this request (gateway.forwardAuth.defaultAction is deny)"
		if d.Rule >= 0 {
			cause = fmt.Errorf("%w: gateway.access[%d] denies %s %s on %s for %s", access.ErrDenied, d.Rule, method, q.Path, q.Host, id.User)
			msg = fmt.Sprintf("gateway.access[%d] denies this request", d.Rule)
		}
		httperr.Write(w, r, httperr.New(http.StatusForbidden, "access_denied", msg, cause))
		return
	}
	fa.answer(w, id)
	w.WriteHeader(http.StatusOK)
}

// unauthenticated answers a request without a usable credential: 401 with
// Location naming the sign-in page and, in rd, the original URL (nginx
// turns it into a redirect with error_page); with ?redirect=1 a page load
// gets the 302 itself (Caddy and Traefik pass the answer on).
func (fa forwardAuth) unauthenticated(w http.ResponseWriter, r *http.Request, err error, method string) {
	rec := request.FromContext(r.Context())
	he := httperr.Public(err)
	if he.Status != http.StatusUnauthorized {
		httperr.Write(w, r, err)
		return
	}
	loc := fa.signIn + "?rd=" + url.QueryEscape(rec.Proto+"://"+rec.Host+rec.OriginalURI)
	w.Header().Set("Location", loc)
	navigation := (method == http.MethodGet || method == http.MethodHead) &&
		(strings.Contains(strings.ToLower(r.Header.Get("Accept")), "text/html") || strings.EqualFold(r.Header.Get("Sec-Fetch-Mode"), "navigate"))
	if r.URL.Query().Get("redirect") == "1" && navigation {
		rec.Cause = err
		w.WriteHeader(http.StatusFound)
		return
	}
	// The proxy passes a 401 page on for a navigation of its own
	// accord only if told to; the JSON body is what API clients see.
	rec.Navigation = false
	httperr.Write(w, r, err)
}
