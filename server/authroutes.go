package server

import (
	"net/http"
	"time"

	"gateway/auth"
	"gateway/cookie"
	"gateway/httperr"
	"gateway/jsonhttp"
	"gateway/request"
	"gateway/web"
)

type authRoutes struct {
	a *auth.Authenticator
	b browser
}

type loginRequest struct {
	Password *string `json:"password"`
	Token    *string `json:"token"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// login opens a session for the password (password mode) or the shared
// token (token mode), answering JSON with the session token and setting the
// session cookie.
func (h authRoutes) login(w http.ResponseWriter, r *http.Request) {
	if isForm(r) {
		h.b.loginForm(w, r)
		return
	}
	var req loginRequest
	if err := jsonhttp.Decode(w, r, &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	secret := req.Password
	if h.a.LoginSecret(r) == auth.SecretToken {
		secret = req.Token
	}
	if secret == nil || *secret == "" {
		httperr.Write(w, r, httperr.New(http.StatusBadRequest, "bad_request", "password (or token, in token mode) is required", nil))
		return
	}
	res, err := h.a.Login(r.Context(), r, *secret)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	setLoginCookies(w, r, res)
	jsonhttp.Write(w, http.StatusOK, loginResponse{Token: res.Token, ExpiresAt: res.Expires})
}

// setLoginCookies sets what a sign-in gives a browser: the session cookie
// of the origin it signed in on, and the known-client cookie.
//
// The session cookie is HttpOnly and behind https Secure with the __Host-
// prefix (the scheme resolved through trusted proxies: a TLS-terminating
// proxy makes it https). The agent origin's is SameSite=Lax, so the first
// navigation from a bookmark or another site's link carries it while
// cross-site posts do not; the admin origin's is Strict: nothing that
// starts on another site carries the owner's console session.
func setLoginCookies(w http.ResponseWriter, r *http.Request, res auth.LoginResult) {
	rec := request.FromContext(r.Context())
	base, same := cookie.Session, http.SameSiteLaxMode
	if rec.Admin {
		base, same = cookie.Admin, http.SameSiteStrictMode
	}
	cookie.Set(w, base, rec.Proto, res.Token, res.Expires, same)
	if res.KnownClient != "" {
		cookie.Set(w, cookie.KnownClient, rec.Proto, res.KnownClient, time.Now().Add(auth.KnownClientTTL), http.SameSiteStrictMode)
	}
}

// clearSessionCookie tells the browser to drop the origin's session cookie.
func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	rec := request.FromContext(r.Context())
	base := cookie.Session
	if rec.Admin {
		base = cookie.Admin
	}
	cookie.Clear(w, base, rec.Proto)
}

// logout ends what authenticated the request: the session (everywhere:
// it is removed from the shared store), or the device token (revoked until
// it expires). A form post from the console returns to the sign-in page.
func (h authRoutes) logout(w http.ResponseWriter, r *http.Request) {
	form := isForm(r)
	if form {
		if err := h.b.checkForm(w, r); err != nil {
			httperr.Write(w, r, err)
			return
		}
	}
	if err := h.endCredential(r); err != nil {
		httperr.Write(w, r, err)
		return
	}
	clearSessionCookie(w, r)
	if form {
		http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (h authRoutes) endCredential(r *http.Request) error {
	id := auth.IdentityOf(r)
	st := h.a.Stores()
	switch {
	case id.SessionID != "":
		return st.Sessions.RevokeID(id.SessionID, h.a.Sessions())
	case id.Method == request.MethodDevice:
		return st.Devices.RevokeToken(r.Context(), id.TokenID, time.Now().Add(30*24*time.Hour))
	}
	return nil
}

// devicePairPage serves the page a device invitation's URL opens.
func devicePairPage(w http.ResponseWriter, _ *http.Request) { web.RenderPair(w) }
