package auth

import (
	"context"
	"net/http"

	"gateway/cookie"
	"gateway/request"
)

// Method is one way in. Adding one is a file in this package that
// implements it (and, when it has them, Routes and Offer), plus its
// configuration; NewAuthenticator puts it in the chain.
type Method interface {
	// Name is the method's name (request.Method*): Identity.Method, the
	// access log's "auth", metrics.
	Name() string
	// Authenticate judges r by this method: the person, a refusal to
	// send, or (nil, nil) when r carries nothing this method reads here,
	// so the next one is asked.
	Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error)
}

// Route is a route a method serves itself (under /auth/).
type Route struct {
	// Method and Path are the HTTP method and path.
	Method, Path string
	Handler      http.HandlerFunc
	// AgentOnly routes are not served on the admin origin.
	AgentOnly bool
}

// Offer is how the sign-in page presents a method on an origin.
type Offer struct {
	// Field is the secret a form asks for ("password", "token").
	Field string
	// Link and Label make a button that starts sign-in elsewhere
	// ("Sign in with Example ID").
	Link, Label string
	// Note explains a method that needs no sign-in here.
	Note string
}

// offered is a method the sign-in page presents.
type offered interface {
	Method
	// offer says how it is presented on rec's origin; ok false: not
	// there.
	offer(rec *request.Record) (o Offer, ok bool)
}

// presented is the gateway credential a request carries.
type presented struct {
	value   string
	carrier request.Credential
}

// presentedCredentials lists the request's gateway credentials, in the
// order they are taken: Proxy-Authorization (the client's Authorization is
// then the upstream's), the origin's session cookie, Authorization, a
// bearer. WebSocket subprotocol. bearerOnly leaves out the cookie and the
// subprotocol: it keeps what a page cannot attach.
func presentedCredentials(r *http.Request, rec *request.Record, bearerOnly bool) []presented {
	var out []presented
	if tok, ok := Bearer(r.Header.Get("Proxy-Authorization")); ok {
		out = append(out, presented{tok, request.CredentialProxyAuthorization})
	}
	if !bearerOnly {
		if c, err := r.Cookie(cookie.Name(sessionCookie(rec), rec.Proto)); err == nil && c.Value != "" {
			out = append(out, presented{c.Value, request.CredentialCookie})
		}
	}
	if tok, ok := Bearer(r.Header.Get("Authorization")); ok {
		out = append(out, presented{tok, request.CredentialAuthorization})
	}
	if !bearerOnly && rec.Upgrade == request.UpgradeWebSocket {
		if tok, ok := ProtocolToken(r.Header); ok {
			out = append(out, presented{tok, request.CredentialWebSocketProtocol})
		}
	}
	return out
}

// credentialMethod checks a credential the gateway issued or holds: a
// device token, a session, the shared token. Each takes the values of its
// own form, so a value is checked as exactly one of them.
type credentialMethod interface {
	Method
	takes(p presented) bool
	check(ctx context.Context, rec *request.Record, p presented) (*request.Identity, error)
}

// authenticateCredential is a credential method's Authenticate: the
// first of the request's credentials of the method's form.
func authenticateCredential(m credentialMethod, r *http.Request, rec *request.Record) (*request.Identity, error) {
	for _, p := range presentedCredentials(r, rec, false) {
		if !m.takes(p) {
			continue
		}
		id, err := m.check(r.Context(), rec, p)
		if id != nil {
			id.Credential = p.carrier
		}
		if id != nil || err != nil {
			return id, err
		}
	}
	return nil, nil
}
