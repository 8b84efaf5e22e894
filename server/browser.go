package server

import (
	"errors"
	"mime"
	"net/http"

	"gateway/auth"
	"gateway/httperr"
	"gateway/request"
	"gateway/web"
)

// The browser side of the gateway's own endpoints: the sign-in page, form
// posts (sign in, sign out, the console's actions) and where they lead.
// Every form post is checked twice before anything happens: the browser
// must not say it comes from another site (Origin, Sec-Fetch-Site, decided
// once by trust), and the CSRF token must match the pre-session cookie.

// maxFormBody caps the gateway's own form posts.
const maxFormBody = 16 << 10

// browser serves the pages and checks the forms.
type browser struct {
	a    *auth.Authenticator
	csrf *web.CSRF
	rd   redirects
}

func https(r *http.Request) bool { return request.FromContext(r.Context()).Proto == "https" }

// isForm reports whether r is an HTML form post.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// errCrossSite is a form post a browser says came from another site.
var errCrossSite = errors.New("form post from another site")

// errNotSameOrigin is a cookie-authenticated change a browser did not say
// came from this origin.
var errNotSameOrigin = errors.New("cookie-authenticated change without a same-origin Origin or Sec-Fetch-Site")

// cookieChangesSameOrigin refuses every state-changing request to the
// gateway's own endpoints that a cookie authenticated, whatever its
// Content-Type (a form, multipart/form-data, text/plain, JSON), unless the
// browser said it comes from this very origin: a cross-site or same-site
// page (a sibling host name shares the agent's cookies), a sandboxed frame
// (Origin: null) and a request that says nothing are all refused. Forms
// also need their CSRF token (checkForm). A bearer credential is not
// subject to it: a page cannot attach one.
func cookieChangesSameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		rec := request.FromContext(r.Context())
		if id := rec.Identity; id != nil && id.Credential == request.CredentialCookie && !rec.SameOrigin {
			httperr.Write(w, r, httperr.New(http.StatusForbidden, "cross_site", "this change must come from a page of this gateway", errNotSameOrigin))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkForm admits a form post: bounded body, same site, valid CSRF token.
func (b browser) checkForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return httperr.New(http.StatusBadRequest, "bad_request", "malformed form", err)
	}
	if request.FromContext(r.Context()).CrossSite {
		return httperr.New(http.StatusForbidden, "cross_site", "form posted from another site", errCrossSite)
	}
	if err := b.csrf.Check(r, https(r)); err != nil {
		return httperr.New(http.StatusForbidden, "csrf", "the form expired or was not this gateway's; reload the page and try again", err)
	}
	return nil
}

// offers are the ways in the sign-in page presents on the request's
// origin, as the methods describe themselves.
func (b browser) offers(r *http.Request) []web.Offer {
	var out []web.Offer
	for _, o := range b.a.Offers(r) {
		out = append(out, web.Offer{Field: o.Field, Link: o.Link, Label: o.Label, Note: o.Note})
	}
	return out
}

// signInPage serves GET /auth/login. A browser that signed in for the
// other apps (forward auth's SSO cookie) gets its session here at once.
func (b browser) signInPage(w http.ResponseWriter, r *http.Request) {
	rd := b.rd.safe(r, r.URL.Query().Get("rd"))
	res, ok, err := b.a.SSOFromCookie(r.Context(), r)
	if err != nil {
		request.FromContext(r.Context()).Cause = err
	}
	if ok {
		b.a.SetCookies(w, r, res)
		http.Redirect(w, r, rd, http.StatusSeeOther)
		return
	}
	web.RenderSignIn(w, http.StatusOK, web.SignIn{Offers: b.offers(r), CSRF: b.csrf.Token(w, r, https(r)),
		RD: rd, Admin: request.FromContext(r.Context()).Admin, FormTargets: b.rd.origins(r)})
}

// loginForm serves a sign-in form post: the password (password mode) or
// the token (token mode) for a session cookie, then 303 to where the
// person was going. A wrong secret shows the form again with 401 and counts
// toward the lockout; when locked, the page says for how long.
func (b browser) loginForm(w http.ResponseWriter, r *http.Request) {
	if err := b.checkForm(w, r); err != nil {
		httperr.Write(w, r, err)
		return
	}
	rd := b.rd.safe(r, r.PostFormValue("rd"))
	field := b.a.LoginSecret(r)
	page := web.SignIn{Offers: b.offers(r), CSRF: b.csrf.Token(w, r, https(r)), RD: rd, Admin: request.FromContext(r.Context()).Admin,
		FormTargets: b.rd.origins(r)}
	if field == "" {
		httperr.Write(w, r, httperr.New(http.StatusNotFound, "login_disabled", "sign-in is not available in this auth mode (gateway.auth.mode)", nil))
		return
	}
	secret := r.PostFormValue(field)
	if secret == "" {
		page.Message = "Enter the " + field + "."
		request.FromContext(r.Context()).Cause = errors.New("empty " + field)
		web.RenderSignIn(w, http.StatusBadRequest, page)
		return
	}
	res, err := b.a.Login(r.Context(), r, secret)
	if err != nil {
		he := httperr.Public(err)
		request.FromContext(r.Context()).Cause = err
		switch {
		case he.Status == http.StatusUnauthorized:
			page.Message = "Wrong " + field + "."
		case errors.Is(err, auth.ErrLockedOut):
			page.Message = "Too many failed attempts from your address. Try again in " + web.HumanSeconds(int(auth.RetryAfter(err).Seconds())) + "."
			for k, vs := range he.Header {
				w.Header()[k] = vs
			}
		default:
			httperr.Write(w, r, err)
			return
		}
		web.RenderSignIn(w, he.Status, page)
		return
	}
	b.a.SetCookies(w, r, res)
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

// redirectAfterForm answers a console form: back to the console with a
// fixed message code (never text from the request).
func redirectAfterForm(w http.ResponseWriter, r *http.Request, anchor, done string, err error) {
	q := "done=" + done
	if err != nil {
		request.FromContext(r.Context()).Cause = err
		q = "error=" + httperr.Public(err).Code
	}
	http.Redirect(w, r, "/admin/?"+q+"#"+anchor, http.StatusSeeOther)
}

// signOutPage serves GET /auth/logout: the sign-out form of whatever
// session the browser holds on this origin.
func (b browser) signOutPage(w http.ResponseWriter, r *http.Request) {
	d := web.SignOut{CSRF: b.csrf.Token(w, r, https(r))}
	if v := r.URL.Query().Get("rd"); v != "" {
		d.RD, d.FormTargets = b.rd.safe(r, v), b.rd.origins(r)
	}
	if id, err := b.a.Authenticate(r); err == nil && id.SessionID != "" {
		request.FromContext(r.Context()).Identity = id
		d.SignedIn, d.User = true, id.User
		if id.OpenedWith == request.MethodOIDC {
			d.ProviderSignOut = b.a.ProviderSignOut()
		}
	}
	web.RenderSignOut(w, d)
}
