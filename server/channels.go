package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/policy"
	"gateway/trust"
)

type channelRoutes struct {
	engine   *policy.Engine
	upstream *url.URL
	client   *http.Client
	log      *slog.Logger
	redact   bool
}

type inboundRequest struct {
	From     string `json:"from"`
	ChatType string `json:"chatType"`
	GroupID  string `json:"groupId"`
	Text     string `json:"text"`
}

type inboundResponse struct {
	Action         policy.Action `json:"action"`
	Reason         string        `json:"reason"`
	PairingCode    string        `json:"pairingCode,omitempty"`
	UpstreamStatus int           `json:"upstreamStatus,omitempty"`
}

// channelParam validates the {channel} path segment: a bad name is a 400
// (no path traversal reaches the store), an unconfigured one a 404.
func (h channelRoutes) channelParam(r *http.Request) (string, error) {
	ch := chi.URLParam(r, "channel")
	if !config.ChannelNamePattern.MatchString(ch) {
		return "", httperr.New(http.StatusBadRequest, "bad_channel", "channel names are [a-z0-9_-]{1,64}", nil)
	}
	if _, ok := h.engine.Channels[ch]; !ok {
		return "", httperr.New(http.StatusNotFound, "unknown_channel", "channel not configured", nil)
	}
	return ch, nil
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, policy.ErrNoCode):
		return httperr.New(http.StatusNotFound, "unknown_code", "no such pending pairing code (expired?)", err)
	case errors.Is(err, policy.ErrCorrupt):
		return httperr.New(http.StatusServiceUnavailable, "state_corrupt", "pairing state is unreadable; see the gateway log", err)
	case errors.Is(err, policy.ErrBadChannel):
		return httperr.New(http.StatusBadRequest, "bad_channel", "channel names are [a-z0-9_-]{1,64}", err)
	}
	return err
}

func (h channelRoutes) inbound(w http.ResponseWriter, r *http.Request) {
	ch, err := h.channelParam(r)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	var req inboundRequest
	if err := decodeJSON(w, r, &req); err != nil {
		httperr.Write(w, err)
		return
	}
	if req.ChatType == "" {
		req.ChatType = policy.ChatDirect
	}
	switch {
	case strings.TrimSpace(req.From) == "":
		err = httperr.New(http.StatusBadRequest, "bad_request", "from is required", nil)
	case req.ChatType != policy.ChatDirect && req.ChatType != policy.ChatGroup:
		err = httperr.New(http.StatusBadRequest, "bad_request", "chatType must be direct or group", nil)
	case req.ChatType == policy.ChatGroup && strings.TrimSpace(req.GroupID) == "":
		err = httperr.New(http.StatusBadRequest, "bad_request", "groupId is required for group messages", nil)
	}
	if err != nil {
		httperr.Write(w, err)
		return
	}
	res, err := h.engine.Inbound(r.Context(), ch, req.From, req.ChatType, strings.TrimSpace(req.GroupID))
	if err != nil {
		if errors.Is(err, policy.ErrBadSender) {
			httperr.Write(w, httperr.New(http.StatusBadRequest, "bad_sender", "from cannot be normalised for this channel", err))
			return
		}
		h.log.Error("policy store unreadable; refusing", slog.String("channel", ch), slog.String("err", err.Error()))
		httperr.Write(w, storeErr(err))
		return
	}
	sender := policy.Mask(res.From)
	if !h.redact {
		sender = res.From
	}
	attrs := []any{slog.String("channel", ch), slog.String("action", string(res.Action)), slog.String("reason", res.Reason),
		slog.String("from", sender), slog.String("chatType", req.ChatType)}
	if !h.redact {
		attrs = append(attrs, slog.String("text", req.Text))
	}
	h.log.Info("inbound", attrs...)

	out := inboundResponse{Action: res.Action, Reason: res.Reason}
	switch res.Action {
	case policy.Pairing:
		out.PairingCode = res.Code
		httperr.WriteJSON(w, http.StatusOK, out)
		return
	case policy.Drop:
		httperr.WriteJSON(w, http.StatusOK, out)
		return
	}
	status, err := h.deliver(r, ch, inboundRequest{From: res.From, ChatType: req.ChatType, GroupID: req.GroupID, Text: req.Text})
	if err != nil {
		httperr.Write(w, err)
		return
	}
	out.UpstreamStatus = status
	if status >= 500 {
		httperr.WriteJSON(w, http.StatusBadGateway, struct {
			inboundResponse
			Error string `json:"error"`
			Code  string `json:"code"`
		}{out, "upstream failed to accept the message", "upstream_error"})
		return
	}
	httperr.WriteJSON(w, status, out)
}

// deliver posts the message to {upstream}/channels/{channel}/inbound with
// the same identity and forwarding headers the proxy sets.
func (h channelRoutes) deliver(r *http.Request, ch string, msg inboundRequest) (int, error) {
	if h.upstream == nil {
		return 0, httperr.New(http.StatusBadGateway, "no_upstream", "no upstream configured to deliver to", nil)
	}
	body, _ := json.Marshal(msg)
	u := *h.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + "/channels/" + ch + "/inbound"
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	out.Header.Set("Content-Type", "application/json")
	if res, ok := trust.FromContext(r.Context()); ok {
		out.Header.Set("X-Forwarded-For", res.ForwardedFor)
		out.Header.Set("X-Real-Ip", res.Client.String())
		out.Header.Set("X-Forwarded-Proto", res.Proto)
		out.Header.Set("X-Forwarded-Host", res.Host)
	}
	if id, ok := auth.FromContext(r.Context()); ok {
		out.Header.Set("X-Gateway-User", id.User)
		out.Header.Set("X-Gateway-Auth", id.Method)
	}
	out.Header.Set("X-Gateway-Channel", ch)
	resp, err := h.client.Do(out)
	if err != nil {
		h.log.Warn("channel delivery failed", slog.String("channel", ch), slog.String("err", err.Error()))
		return 0, httperr.New(http.StatusBadGateway, "bad_gateway", "upstream unavailable", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Owner actions on pairing codes: the same as `gateway pairing`.

type codeRequest struct {
	Code string `json:"code"`
}

func (h channelRoutes) listPairing(w http.ResponseWriter, r *http.Request) {
	ch, err := h.channelParam(r)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	p, err := h.engine.Store.Pending(ch)
	if err != nil {
		httperr.Write(w, storeErr(err))
		return
	}
	allow, err := h.engine.Store.AllowFrom(ch)
	if err != nil {
		httperr.Write(w, storeErr(err))
		return
	}
	if allow == nil {
		allow = []string{}
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"channel": ch, "pending": p, "allowFrom": allow})
}

func (h channelRoutes) pairingAction(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ch, err := h.channelParam(r)
		if err != nil {
			httperr.Write(w, err)
			return
		}
		var req codeRequest
		if err := decodeJSON(w, r, &req); err != nil {
			httperr.Write(w, err)
			return
		}
		if strings.TrimSpace(req.Code) == "" {
			httperr.Write(w, httperr.New(http.StatusBadRequest, "bad_request", "code is required", nil))
			return
		}
		if !approve {
			if err := h.engine.Store.Reject(r.Context(), ch, req.Code); err != nil {
				httperr.Write(w, storeErr(err))
				return
			}
			httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "rejected"})
			return
		}
		sender, err := h.engine.Store.Approve(r.Context(), ch, req.Code)
		if err != nil {
			httperr.Write(w, storeErr(err))
			return
		}
		h.log.Info("pairing approved", slog.String("channel", ch), slog.String("from", policy.Mask(sender)))
		httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "approved", "from": sender})
	}
}

func (h channelRoutes) mount(r chi.Router) {
	r.With(auth.RequireAdmin).Post("/channels/{channel}/inbound", h.inbound)
}

func (h channelRoutes) mountAdmin(r chi.Router) {
	r.Get("/pairing/{channel}", h.listPairing)
	r.Post("/pairing/{channel}/approve", h.pairingAction(true))
	r.Post("/pairing/{channel}/reject", h.pairingAction(false))
}
