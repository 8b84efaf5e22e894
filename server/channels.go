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

	"gateway/admin"
	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/jsonhttp"
	"gateway/policy"
	"gateway/proxy"
	"gateway/sender"
)

type channelRoutes struct {
	engine   *policy.Engine
	upstream *url.URL
	out      *proxy.Outgoing
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

func (h channelRoutes) inbound(w http.ResponseWriter, r *http.Request) {
	ch, err := h.channelParam(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	var req inboundRequest
	if err := jsonhttp.Decode(w, r, &req); err != nil {
		httperr.Write(w, r, err)
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
		httperr.Write(w, r, err)
		return
	}
	res, err := h.engine.Inbound(r.Context(), ch, req.From, req.ChatType, strings.TrimSpace(req.GroupID))
	if err != nil {
		if errors.Is(err, sender.ErrBadSender) {
			httperr.Write(w, r, httperr.New(http.StatusBadRequest, "bad_sender", "from cannot be normalised for this channel", err))
			return
		}
		httperr.Write(w, r, admin.PairingError(err))
		return
	}
	from := sender.Mask(res.From)
	if !h.redact {
		from = res.From
	}
	attrs := []any{slog.String("channel", ch), slog.String("action", string(res.Action)), slog.String("reason", res.Reason),
		slog.String("from", from), slog.String("chatType", req.ChatType)}
	if !h.redact {
		attrs = append(attrs, slog.String("text", req.Text))
	}
	h.log.Info("inbound", attrs...)

	out := inboundResponse{Action: res.Action, Reason: res.Reason}
	switch res.Action {
	case policy.Pairing:
		out.PairingCode = res.Code
		jsonhttp.Write(w, http.StatusOK, out)
		return
	case policy.Drop:
		jsonhttp.Write(w, http.StatusOK, out)
		return
	}
	status, err := h.deliver(r, ch, inboundRequest{From: res.From, ChatType: req.ChatType, GroupID: req.GroupID, Text: req.Text})
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	out.UpstreamStatus = status
	if status >= 500 {
		jsonhttp.Write(w, http.StatusBadGateway, struct {
			inboundResponse
			Error string `json:"error"`
			Code  string `json:"code"`
		}{out, "upstream failed to accept the message", "upstream_error"})
		return
	}
	jsonhttp.Write(w, status, out)
}

// deliver posts the message to {upstream}/channels/{channel}/inbound. The
// outgoing request is the connector's, rebuilt by the same Outgoing.Build as
// every proxied request, so a delivery carries exactly the identity and
// forwarding headers a proxied request would.
func (h channelRoutes) deliver(r *http.Request, ch string, msg inboundRequest) (int, error) {
	if h.upstream == nil {
		return 0, httperr.New(http.StatusBadGateway, "no_upstream", "no upstream configured to deliver to", nil)
	}
	body, _ := json.Marshal(msg)
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	out := r.Clone(ctx)
	u := *h.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + "/channels/" + ch + "/inbound"
	u.RawPath = ""
	out.URL, out.RequestURI = &u, ""
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	out.GetBody = nil
	h.out.Build(r, out)
	out.Header.Set("Content-Type", "application/json")
	out.Header.Set("X-Gateway-Channel", ch)
	resp, err := h.client.Do(out)
	if err != nil {
		return 0, httperr.New(http.StatusBadGateway, "bad_gateway", "upstream unavailable", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func (h channelRoutes) mount(r chi.Router) {
	r.With(auth.RequireAdmin).Post("/channels/{channel}/inbound", h.inbound)
}
