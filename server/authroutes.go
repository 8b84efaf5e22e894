package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"gateway/auth"
	"gateway/httperr"
	"gateway/request"
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
	if err := decodeJSON(w, r, &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	secret := req.Password
	if h.a.Mode() == auth.ModeToken {
		secret = req.Token
	}
	if secret == nil || *secret == "" {
		httperr.Write(w, r, httperr.New(http.StatusBadRequest, "bad_request", "password (or token, in token mode) is required", nil))
		return
	}
	tok, exp, err := h.a.Login(r.Context(), r, *secret)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	setSessionCookie(w, r, tok, exp)
	writeJSON(w, http.StatusOK, loginResponse{Token: tok, ExpiresAt: exp})
}

// setSessionCookie sets the session cookie: HttpOnly, SameSite=Lax (so the
// first navigation from a bookmark or another site's link carries it, while
// cross-site posts do not), and behind https Secure with the __Host- prefix.
// The scheme is the one resolved through trusted proxies: a TLS-terminating
// proxy makes it https.
func setSessionCookie(w http.ResponseWriter, r *http.Request, tok string, exp time.Time) {
	proto := request.FromContext(r.Context()).Proto
	http.SetCookie(w, &http.Cookie{
		Name: auth.CookieName(proto), Value: tok, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: proto == "https",
	})
}

// clearSessionCookie tells the browser to drop the session cookie.
func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	proto := request.FromContext(r.Context()).Proto
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName(proto), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: proto == "https"})
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
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (h authRoutes) endCredential(r *http.Request) error {
	id := auth.IdentityOf(r)
	st := h.a.Stores()
	switch {
	case id.SessionID != "":
		return st.Sessions.RevokeID(id.SessionID, h.a.Sessions())
	case id.Method == auth.MethodDevice:
		return st.Devices.RevokeToken(r.Context(), id.TokenID, time.Now().Add(30*24*time.Hour))
	}
	return nil
}

type challengeResponse struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (h authRoutes) challenge(w http.ResponseWriter, r *http.Request) {
	nonce, exp, err := h.a.Challenge(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, challengeResponse{Nonce: nonce, ExpiresAt: exp})
}

func (h authRoutes) connect(w http.ResponseWriter, r *http.Request) {
	var req auth.ConnectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	res, err := h.a.Connect(r.Context(), r, req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Status == "pending" {
		status = http.StatusAccepted
	}
	writeJSON(w, status, res)
}

// Admin device actions: the same operations as `gateway devices`.

type devicesList struct {
	Pending []auth.PendingRequest `json:"pending"`
	Paired  []auth.PairedDevice   `json:"paired"`
}

func unreadable(err error) error {
	return httperr.New(http.StatusServiceUnavailable, "state_unreadable", "device store unreadable", err)
}

func (h authRoutes) listDevices(w http.ResponseWriter, r *http.Request) {
	d := h.a.Stores().Devices
	pending, err := d.Pending()
	if err != nil {
		httperr.Write(w, r, unreadable(err))
		return
	}
	paired, err := d.Paired()
	if err != nil {
		httperr.Write(w, r, unreadable(err))
		return
	}
	if pending == nil {
		pending = []auth.PendingRequest{}
	}
	writeJSON(w, http.StatusOK, devicesList{Pending: pending, Paired: paired})
}

// deviceActionRequest is the body of the /admin/devices actions.
type deviceActionRequest struct {
	RequestID string `json:"requestId"`
	// Latest approves the only pending request; refused when several wait.
	Latest bool `json:"latest"`
	// Role confirms the role to grant; required to grant admin.
	Role     string `json:"role"`
	DeviceID string `json:"deviceId"`
}

// deviceAction is one of the owner's device operations.
type deviceAction int

const (
	approveDevice deviceAction = iota
	rejectDevice
	revokeDevice
)

func deviceErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrNoRequest):
		return httperr.New(http.StatusNotFound, "not_found", "no such pending request (expired?)", err)
	case errors.Is(err, auth.ErrNoDevice):
		return httperr.New(http.StatusNotFound, "not_found", "no such paired device", err)
	case errors.Is(err, auth.ErrAdminNotConfirmed):
		return httperr.New(http.StatusConflict, "role_confirmation_required",
			"the request asks for the admin role; approve it with \"role\":\"admin\" to confirm, or with another role", err)
	case errors.Is(err, auth.ErrBadRole):
		return httperr.New(http.StatusBadRequest, "bad_request", "role must be operator, node or admin", err)
	}
	return err
}

// ambiguousBody answers approve-latest when several requests wait: the
// owner must pick one by id, so a flood cannot decide what "latest" is.
type ambiguousBody struct {
	httperr.Body
	Pending []auth.PendingRequest `json:"pending"`
}

// deviceDone names each action's outcome for the console.
var deviceDone = map[deviceAction]string{approveDevice: "approved", rejectDevice: "rejected", revokeDevice: "revoked"}

func (h authRoutes) device(action deviceAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if isForm(r) {
			h.deviceForm(w, r, action)
			return
		}
		var req deviceActionRequest
		if err := decodeJSON(w, r, &req); err != nil {
			httperr.Write(w, r, err)
			return
		}
		out, err := h.doDevice(r, action, req)
		var amb *auth.AmbiguousError
		if errors.As(err, &amb) {
			request.FromContext(r.Context()).Cause = err
			writeJSON(w, http.StatusConflict, ambiguousBody{Body: httperr.Body{Error: amb.Error(), Code: "ambiguous_latest"}, Pending: amb.Pending})
			return
		}
		if err != nil {
			httperr.Write(w, r, deviceErr(err))
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// deviceForm is a device action posted from the console. Granting admin
// takes the role and a ticked confirmation both.
func (h authRoutes) deviceForm(w http.ResponseWriter, r *http.Request, action deviceAction) {
	if err := h.b.checkForm(w, r); err != nil {
		httperr.Write(w, r, err)
		return
	}
	req := deviceActionRequest{RequestID: r.PostFormValue("requestId"), DeviceID: r.PostFormValue("deviceId"), Role: r.PostFormValue("role")}
	var err error
	if req.Role == request.RoleAdmin && r.PostFormValue("confirm_admin") != "yes" {
		err = httperr.New(http.StatusConflict, "role_confirmation_required", "granting admin needs the confirmation ticked", auth.ErrAdminNotConfirmed)
	} else {
		_, err = h.doDevice(r, action, req)
	}
	redirectAfterForm(w, r, "devices", deviceDone[action], deviceErrOrNil(err))
}

func deviceErrOrNil(err error) error {
	if err == nil {
		return nil
	}
	return deviceErr(err)
}

func (h authRoutes) doDevice(r *http.Request, action deviceAction, req deviceActionRequest) (any, error) {
	d := h.a.Stores().Devices
	by := "admin:" + auth.IdentityOf(r).User
	switch action {
	case approveDevice:
		switch {
		case req.RequestID != "" && req.Latest:
			return nil, httperr.New(http.StatusBadRequest, "bad_request", "give requestId or latest, not both", nil)
		case req.Latest:
			return d.ApproveOnly(r.Context(), req.Role, by)
		case req.RequestID != "":
			return d.Approve(r.Context(), req.RequestID, req.Role, by)
		}
		return nil, httperr.New(http.StatusBadRequest, "bad_request", "requestId or latest is required", nil)
	case rejectDevice:
		if req.RequestID == "" {
			return nil, httperr.New(http.StatusBadRequest, "bad_request", "requestId is required", nil)
		}
		return map[string]string{"status": "rejected"}, d.Reject(r.Context(), req.RequestID)
	default:
		if req.DeviceID == "" {
			return nil, httperr.New(http.StatusBadRequest, "bad_request", "deviceId is required", nil)
		}
		return map[string]string{"status": "revoked"}, d.Revoke(r.Context(), req.DeviceID)
	}
}

func (h authRoutes) mountAdminDevices(r chi.Router) {
	r.Get("/devices", h.listDevices)
	r.Post("/devices/approve", h.device(approveDevice))
	r.Post("/devices/reject", h.device(rejectDevice))
	r.Post("/devices/revoke", h.device(revokeDevice))
}
