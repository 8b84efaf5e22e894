package server

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"gateway/admin"
	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/jsonhttp"
	"gateway/request"
	"gateway/sender"
)

// adminRoutes are the owner's actions over HTTP: JSON for curl and the CLI's
// --url, console forms for browsers. Each calls the one function of
// admin.Service for its action; this file only reads the input and shapes
// the answer (JSON, or a redirect back to the console).
type adminRoutes struct {
	svc      *admin.Service
	b        browser
	c        console
	log      *slog.Logger
	channels map[string]config.ChannelPolicy
	// pairURL is where an invitation's URL points (the agent's public
	// address); the code goes in its fragment.
	pairURL string
}

func (h adminRoutes) mount(r chi.Router) {
	r.Get("/devices", h.listDevices)
	r.Post("/devices/approve", h.approveDevice)
	r.Post("/devices/reject", h.rejectDevice)
	r.Post("/devices/revoke", h.revokeDevice)
	r.Post("/devices/invite", h.inviteDevice)
	r.Get("/sessions", h.listSessions)
	r.Post("/sessions/revoke", h.revokeSession)
	r.Post("/sessions/revoke-all", h.revokeAllSessions)
	r.Get("/pairing/{channel}", h.listPairing)
	r.Post("/pairing/{channel}/approve", h.pairing(true))
	r.Post("/pairing/{channel}/reject", h.pairing(false))
}

// input reads an action's fields: from a console form (after checkForm:
// same origin, CSRF token) or from a JSON body into dst. form reports
// which it was.
func (h adminRoutes) input(w http.ResponseWriter, r *http.Request, dst any) (form bool, err error) {
	if isForm(r) {
		return true, h.b.checkForm(w, r)
	}
	return false, jsonhttp.Decode(w, r, dst)
}

// answer ends an action: back to the console's section with a fixed
// message code for a form, JSON out (or the error) for an API client.
func answer(w http.ResponseWriter, r *http.Request, form bool, anchor, done string, out any, err error) {
	if form {
		redirectAfterForm(w, r, anchor, done, err)
		return
	}
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, out)
}

func by(r *http.Request) admin.Who { return admin.Who("admin:" + auth.IdentityOf(r).User) }

type devicesList struct {
	Pending []auth.PendingRequest `json:"pending"`
	Paired  []auth.PairedDevice   `json:"paired"`
}

func (h adminRoutes) listDevices(w http.ResponseWriter, r *http.Request) {
	pending, err := h.svc.Devices.Pending()
	if err == nil {
		var paired []auth.PairedDevice
		if paired, err = h.svc.Devices.Paired(r.Context()); err == nil {
			if pending == nil {
				pending = []auth.PendingRequest{}
			}
			jsonhttp.Write(w, http.StatusOK, devicesList{Pending: pending, Paired: paired})
			return
		}
	}
	httperr.Write(w, r, httperr.New(http.StatusServiceUnavailable, "state_unreadable", "device store unreadable", err))
}

// ambiguousBody answers approve-latest when several requests wait: the
// owner must pick one by id, so a flood cannot decide what "latest" is.
type ambiguousBody struct {
	httperr.Body
	Pending []auth.PendingRequest `json:"pending"`
}

func (h adminRoutes) approveDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RequestID string `json:"requestId"`
		Latest    bool   `json:"latest"`
		Role      string `json:"role"`
	}
	form, err := h.input(w, r, &req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	if form {
		req.RequestID, req.Role = r.PostFormValue("requestId"), r.PostFormValue("role")
		// Granting admin from the console takes the role and a ticked
		// confirmation both.
		if req.Role == request.RoleAdmin && r.PostFormValue("confirm_admin") != "yes" {
			redirectAfterForm(w, r, "devices", "", httperr.New(http.StatusConflict, "role_confirmation_required",
				"granting admin needs the confirmation ticked", auth.ErrAdminNotConfirmed))
			return
		}
	}
	dev, err := h.svc.ApproveDevice(r.Context(), admin.DeviceApproval{RequestID: req.RequestID, Latest: req.Latest, Role: req.Role}, by(r))
	var amb *auth.AmbiguousError
	if !form && errors.As(err, &amb) {
		request.FromContext(r.Context()).Cause = err
		jsonhttp.Write(w, http.StatusConflict, ambiguousBody{Body: httperr.Body{Error: amb.Error(), Code: "ambiguous_latest"}, Pending: amb.Pending})
		return
	}
	answer(w, r, form, "devices", "approved", dev, err)
}

func (h adminRoutes) rejectDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RequestID string `json:"requestId"`
	}
	form, err := h.input(w, r, &req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	if form {
		req.RequestID = r.PostFormValue("requestId")
	}
	err = h.svc.RejectDevice(r.Context(), req.RequestID)
	answer(w, r, form, "devices", "rejected", map[string]string{"status": "rejected"}, err)
}

func (h adminRoutes) revokeDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DeviceID string `json:"deviceId"`
	}
	form, err := h.input(w, r, &req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	if form {
		req.DeviceID = r.PostFormValue("deviceId")
	}
	err = h.svc.RevokeDevice(r.Context(), req.DeviceID)
	answer(w, r, form, "devices", "revoked", map[string]string{"status": "revoked"}, err)
}

// inviteAnswer is a new invitation, with the URL that carries its code in
// the fragment (never the query: no log and no Referer sees a fragment).
type inviteAnswer struct {
	admin.Invitation
	URL string `json:"url"`
}

// inviteDevice issues an invitation. An admin invitation is issued only on
// the admin origin (the CLI issues them too). The console shows the code
// once, on the page the form post returns, never in a URL.
func (h adminRoutes) inviteDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role string `json:"role"`
		TTL  string `json:"ttl"`
	}
	form, err := h.input(w, r, &req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	if form {
		req.Role, req.TTL = r.PostFormValue("role"), r.PostFormValue("ttl")
	}
	var ttl time.Duration
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			err = httperr.New(http.StatusBadRequest, "bad_request", "ttl must be a duration such as 10m", err)
		}
	}
	var inv admin.Invitation
	if err == nil {
		inv, err = h.svc.InviteDevice(r.Context(), req.Role, ttl, request.FromContext(r.Context()).Admin, by(r))
	}
	if err != nil {
		answer(w, r, form, "invite", "", nil, err)
		return
	}
	out := inviteAnswer{Invitation: inv, URL: h.pairURL + "/auth/device/pair#code=" + inv.Code}
	h.log.Info("device invitation issued", slog.String("role", inv.Role), slog.Time("expiresAt", inv.ExpiresAt), slog.String("by", string(by(r))))
	if form {
		h.c.render(w, r, &out)
		return
	}
	jsonhttp.Write(w, http.StatusOK, out)
}

type sessionView struct {
	ID        string    `json:"id"`
	Origin    string    `json:"origin"`
	User      string    `json:"user"`
	CreatedAt time.Time `json:"createdAt"`
	LastSeen  time.Time `json:"lastSeen"`
	ExpiresAt time.Time `json:"expiresAt"`
	Current   bool      `json:"current"`
}

func (h adminRoutes) listSessions(w http.ResponseWriter, r *http.Request) {
	sessions, err := h.svc.Sessions.List(r.Context(), h.svc.SessionPolicy)
	if err != nil {
		httperr.Write(w, r, auth.StoreUnavailable(err))
		return
	}
	cur := auth.IdentityOf(r).SessionID
	out := []sessionView{}
	for _, s := range sessions {
		out = append(out, sessionView{ID: s.ID, Origin: s.OriginName(), User: s.UserName(), CreatedAt: s.CreatedAt, LastSeen: s.LastSeen,
			ExpiresAt: s.ExpiresAt, Current: s.ID == cur})
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"sessions": out})
}

func (h adminRoutes) revokeSession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	form, err := h.input(w, r, &req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	if form {
		req.ID = r.PostFormValue("id")
	}
	err = h.svc.RevokeSession(r.Context(), req.ID)
	answer(w, r, form, "sessions", "session-revoked", map[string]string{"status": "session-revoked"}, err)
}

func (h adminRoutes) revokeAllSessions(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	form, err := h.input(w, r, &req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	err = h.svc.RevokeAllSessions(r.Context())
	answer(w, r, form, "sessions", "sessions-revoked", map[string]string{"status": "sessions-revoked"}, err)
}

// channelParam validates the {channel} path segment: a bad name is a 400
// (no path traversal reaches the store), an unconfigured one a 404.
func (h adminRoutes) channelParam(r *http.Request) (string, error) {
	ch := chi.URLParam(r, "channel")
	if !config.ChannelNamePattern.MatchString(ch) {
		return "", httperr.New(http.StatusBadRequest, "bad_channel", "channel names are [a-z0-9_-]{1,64}", nil)
	}
	if _, ok := h.channels[ch]; !ok {
		return "", httperr.New(http.StatusNotFound, "unknown_channel", "channel not configured", nil)
	}
	return ch, nil
}

func (h adminRoutes) listPairing(w http.ResponseWriter, r *http.Request) {
	ch, err := h.channelParam(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	p, err := h.svc.Pairing.Pending(ch)
	if err != nil {
		httperr.Write(w, r, admin.PairingError(err))
		return
	}
	allow, err := h.svc.Pairing.AllowFrom(r.Context(), ch)
	if err != nil {
		httperr.Write(w, r, admin.PairingError(err))
		return
	}
	if allow == nil {
		allow = []string{}
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"channel": ch, "pending": p, "allowFrom": allow})
}

func (h adminRoutes) pairing(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Code string `json:"code"`
		}
		form, err := h.input(w, r, &req)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		if form {
			req.Code = r.PostFormValue("code")
		}
		ch, err := h.channelParam(r)
		if err != nil {
			answer(w, r, form, "pairing", "", nil, err)
			return
		}
		if !approve {
			err = h.svc.RejectPairing(r.Context(), ch, req.Code)
			answer(w, r, form, "pairing", "pairing-rejected", map[string]string{"status": "rejected"}, err)
			return
		}
		from, err := h.svc.ApprovePairing(r.Context(), ch, req.Code)
		if err == nil {
			h.log.Info("pairing approved", slog.String("channel", ch), slog.String("from", sender.Mask(from)))
		}
		answer(w, r, form, "pairing", "pairing-approved", map[string]string{"status": "approved", "from": from}, err)
	}
}
