package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"gateway/cookie"
	"gateway/httperr"
	"gateway/request"
)

// OpenClaw refuses every proxied request whose client address is loopback
// (its "proxy_attribution_required"), by design: through a proxy it cannot
// tell a same-host client from a forged one. A person on the gateway's own
// host gets a bare 403 from it; the gateway explains instead.

// errAttribution marks an upstream refusal of that kind.
var errAttribution = errors.New("the upstream refused the client as unattributable (proxy_attribution_required)")

// attributionMarker is the refusal's type in OpenClaw's JSON error body.
const attributionMarker = `"proxy_attribution_required"`

// isAttributionRefusal reports whether resp is OpenClaw's refusal, reading
// at most 4 KiB of the body and putting back what it read.
func isAttributionRefusal(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return false
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return bytes.Contains(head, []byte(attributionMarker))
}

// attributionError is what the client gets instead of OpenClaw's 403.
func attributionError(rec *request.Record) error {
	msg := "OpenClaw refuses clients on its own host when they come through a proxy (proxy_attribution_required): " +
		"open the agent through your public URL (the TLS proxy in front of the gateway) from another machine, " +
		"or use OpenClaw's own local access on this host"
	if rec == nil || !rec.Client.IsLoopback() {
		msg = "OpenClaw could not attribute the client (proxy_attribution_required): check that OpenClaw's " +
			"gateway.trustedProxies holds the address this gateway connects from (`gateway openclaw check`)"
	}
	return httperr.New(http.StatusForbidden, "same_host_client", msg, errAttribution)
}

// modifyResponse replaces OpenClaw's attribution refusal with our
// explanation (through the ErrorHandler).
//
// It also removes every Set-Cookie that would set one of the gateway's
// cookies: a page or an answer of the agent's must never plant a session,
// a CSRF or a known-client cookie in the person's browser.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	cookie.StripResponse(resp.Header)
	if isAttributionRefusal(resp) {
		_ = resp.Body.Close()
		return errAttribution
	}
	return nil
}
