package server

import (
	"errors"
	"net/http"
	"net/url"

	"gateway/auth"
	"gateway/httperr"
	"gateway/request"
)

// requireIdentity authenticates every request and stores the identity in
// the record. A browser loading a page (GET or HEAD) without a credential is
// sent to the sign-in page (303) with where it was going; a stale session cookie it
// carried is cleared on the way and never counted as a failure. API clients
// and every other refusal get the error (JSON, or a page for a navigation).
func requireIdentity(authn *auth.Authenticator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := request.FromContext(r.Context())
			id, err := authn.Authenticate(r)
			if err == nil {
				rec.Identity = id
				next.ServeHTTP(w, r)
				return
			}
			if rec.Navigation && (r.Method == http.MethodGet || r.Method == http.MethodHead) && toSignIn(err) {
				rec.Cause = err
				if _, cerr := r.Cookie(auth.SessionCookie(r)); cerr == nil {
					authn.ClearCookies(w, r)
				}
				http.Redirect(w, r, "/auth/login?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			httperr.Write(w, r, err)
		})
	}
}

// toSignIn reports whether a refusal is "no usable credential" (missing,
// a stale cookie, a proxy that sent no identity), which the sign-in page
// answers, rather than a wrong credential or a lockout.
func toSignIn(err error) bool {
	var he *httperr.Error
	return errors.As(err, &he) && he.Status == http.StatusUnauthorized && !errors.Is(err, auth.ErrBadCredentials)
}
