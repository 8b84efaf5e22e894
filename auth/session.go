package auth

import (
	"context"
	"errors"
	"net/http"

	"gateway/request"
)

// sessionMethod is a session opened by a sign-in (password, token, OIDC):
// the origin's session cookie, or its token as a bearer (a JSON sign-in's
// answer). A session stores who signed in and how; who they are now (their
// admission, role and groups) is recomputed from the configuration on
// every request.
type sessionMethod struct{ a *Authenticator }

func (m *sessionMethod) Name() string { return request.MethodSession }

func (m *sessionMethod) Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error) {
	return authenticateCredential(m, r, rec)
}

func (m *sessionMethod) takes(p presented) bool {
	return p.carrier == request.CredentialCookie || IsSessionToken(p.value)
}

// check verifies a session. A stale or unknown cookie is no credential
// ((nil, nil): not a failed attempt, since a browser keeps sending an
// expired cookie, and guessing a 256-bit session id is hopeless anyway).
// A session bearer that is not live is a wrong guess, counted; one the
// store cannot check is 503 and not counted, so a valid session used
// during an outage never locks its client out. The store's failure is
// never "no session" and never "signed in".
func (m *sessionMethod) check(ctx context.Context, rec *request.Record, p presented) (*request.Identity, error) {
	if p.carrier == request.CredentialCookie {
		se, err := m.a.st.Sessions.Check(ctx, p.value, m.a.sessions, originOf(rec))
		switch {
		case errors.Is(err, ErrNoSession):
			return nil, nil
		case err != nil:
			return nil, StoreUnavailable(err)
		}
		return m.identity(se)
	}
	att, err := m.a.reserve(ctx, ScopeToken, rec)
	if err != nil {
		return nil, err
	}
	se, err := m.a.st.Sessions.Check(ctx, p.value, m.a.sessions, originOf(rec))
	switch {
	case errors.Is(err, ErrNoSession):
		return nil, m.a.failed(att)
	case err != nil:
		att.Cancel()
		return nil, StoreUnavailable(err)
	}
	att.Succeed()
	return m.identity(se)
}

// identity is who the session is now: the owner for a sign-in with the
// password or the token; for a person (OIDC), whom the configuration
// admits now, with the role and groups it gives them now.
func (m *sessionMethod) identity(se Session) (*request.Identity, error) {
	user, role, opened := se.identity()
	if user == request.Owner {
		return &request.Identity{User: user, Role: role, Method: request.MethodSession, OpenedWith: opened, SessionID: se.ID}, nil
	}
	id, err := m.a.people.admit(claim{method: opened, user: user, email: se.Email, groups: se.Groups})
	if err != nil {
		return nil, err
	}
	id.Method, id.OpenedWith, id.SessionID = request.MethodSession, opened, se.ID
	return id, nil
}
