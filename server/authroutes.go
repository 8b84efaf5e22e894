package server

import (
	"net/http"
	"time"

	"gateway/auth"
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
	h.a.SetCookies(w, r, res)
	jsonhttp.Write(w, http.StatusOK, loginResponse{Token: res.Token, ExpiresAt: res.Expires})
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
	// Forward auth's SSO cookie ends with it: signing out signs out of
	// the other apps too.
	if err := h.a.EndSSO(r); err != nil {
		httperr.Write(w, r, err)
		return
	}
	h.a.ClearCookies(w, r)
	if form {
		rd := "/auth/login"
		if v := r.PostFormValue("rd"); v != "" {
			rd = h.b.rd.safe(r, v)
		}
		http.Redirect(w, r, rd, http.StatusSeeOther)
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (h authRoutes) endCredential(r *http.Request) error {
	id := auth.IdentityOf(r)
	st := h.a.Stores()
	switch {
	case id.SessionID != "":
		return st.Sessions.RevokeID(r.Context(), id.SessionID, h.a.Sessions())
	case id.Method == request.MethodDevice:
		return st.Devices.RevokeToken(r.Context(), id.TokenID, time.Now().Add(30*24*time.Hour))
	}
	return nil
}

// devicePairPage serves the page a device invitation's URL opens.
func devicePairPage(w http.ResponseWriter, _ *http.Request) { web.RenderPair(w) }
