package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"gateway/auth"
	"gateway/httperr"
	"gateway/trust"
)

type authRoutes struct {
	a *auth.Authenticator
}

type loginRequest struct {
	Password *string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (h authRoutes) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		httperr.Write(w, err)
		return
	}
	if req.Password == nil || *req.Password == "" {
		httperr.Write(w, httperr.New(http.StatusBadRequest, "bad_request", "password is required", nil))
		return
	}
	tok, exp, err := h.a.Login(r.Context(), r, *req.Password)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	res, _ := trust.FromContext(r.Context())
	http.SetCookie(w, &http.Cookie{
		Name: auth.SessionCookie, Value: tok, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		// Secure follows what the client used, as resolved through
		// trusted proxies: a TLS-terminating proxy makes it https.
		Secure: res != nil && res.Proto == "https",
	})
	httperr.WriteJSON(w, http.StatusOK, loginResponse{Token: tok, ExpiresAt: exp})
}

func (h authRoutes) logout(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.FromContext(r.Context())
	switch {
	case id.Method == "password":
		tok, _ := auth.BearerToken(r)
		if tok == "" {
			if c, err := r.Cookie(auth.SessionCookie); err == nil {
				tok = c.Value
			}
		}
		if err := h.a.Deps().Sessions.Revoke(tok); err != nil {
			httperr.Write(w, err)
			return
		}
	case id.Method == "device":
		if err := h.a.Deps().Devices.RevokeToken(r.Context(), id.TokenID, time.Now().Add(30*24*time.Hour)); err != nil {
			httperr.Write(w, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

type challengeResponse struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (h authRoutes) challenge(w http.ResponseWriter, r *http.Request) {
	nonce, exp, err := h.a.Challenge(r)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, challengeResponse{Nonce: nonce, ExpiresAt: exp})
}

func (h authRoutes) connect(w http.ResponseWriter, r *http.Request) {
	var req auth.ConnectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		httperr.Write(w, err)
		return
	}
	res, err := h.a.Connect(r.Context(), r, req)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	status := http.StatusOK
	if res.Status == "pending" {
		status = http.StatusAccepted
	}
	httperr.WriteJSON(w, status, res)
}

// Admin device actions: the same operations as `gateway devices`.

type devicesList struct {
	Pending []auth.PendingRequest `json:"pending"`
	Paired  []auth.PairedDevice   `json:"paired"`
}

func (h authRoutes) listDevices(w http.ResponseWriter, _ *http.Request) {
	d := h.a.Deps().Devices
	pending, err := d.Pending()
	if err != nil {
		httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "state_unreadable", "device store unreadable", err))
		return
	}
	paired, err := d.Paired()
	if err != nil {
		httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "state_unreadable", "device store unreadable", err))
		return
	}
	if pending == nil {
		pending = []auth.PendingRequest{}
	}
	httperr.WriteJSON(w, http.StatusOK, devicesList{Pending: pending, Paired: paired})
}

type deviceAction struct {
	RequestID string `json:"requestId"`
	Latest    bool   `json:"latest"`
	DeviceID  string `json:"deviceId"`
}

func deviceErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrNoRequest):
		return httperr.New(http.StatusNotFound, "not_found", "no such pending request (expired?)", err)
	case errors.Is(err, auth.ErrNoDevice):
		return httperr.New(http.StatusNotFound, "not_found", "no such paired device", err)
	}
	return err
}

func (h authRoutes) deviceAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req deviceAction
		if err := decodeJSON(w, r, &req); err != nil {
			httperr.Write(w, err)
			return
		}
		d := h.a.Deps().Devices
		id, _ := auth.FromContext(r.Context())
		var err error
		var out any = map[string]string{"status": action + "d"}
		switch action {
		case "approve":
			if req.RequestID == "" && !req.Latest {
				err = httperr.New(http.StatusBadRequest, "bad_request", "requestId or latest is required", nil)
				break
			}
			var dev auth.PairedDevice
			dev, err = d.Approve(r.Context(), req.RequestID, req.Latest, "admin:"+id.User)
			out = dev
		case "reject":
			if req.RequestID == "" {
				err = httperr.New(http.StatusBadRequest, "bad_request", "requestId is required", nil)
				break
			}
			err = d.Reject(r.Context(), req.RequestID)
		case "revoke":
			if req.DeviceID == "" {
				err = httperr.New(http.StatusBadRequest, "bad_request", "deviceId is required", nil)
				break
			}
			err = d.Revoke(r.Context(), req.DeviceID)
		}
		if err != nil {
			httperr.Write(w, deviceErr(err))
			return
		}
		httperr.WriteJSON(w, http.StatusOK, out)
	}
}

func (h authRoutes) mountAdminDevices(r chi.Router) {
	r.Get("/devices", h.listDevices)
	r.Post("/devices/approve", h.deviceAction("approve"))
	r.Post("/devices/reject", h.deviceAction("reject"))
	r.Post("/devices/revoke", h.deviceAction("revoke"))
}
