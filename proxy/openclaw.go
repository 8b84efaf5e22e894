package proxy

import (
	"net/http"

	"gateway/cookie"
)

// modifyResponse removes every Set-Cookie that would set one of the
// gateway's cookies: a page or an answer of the agent's must never plant a
// session, a CSRF or a known-client cookie in the person's browser.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	cookie.StripResponse(resp.Header)
	return nil
}
