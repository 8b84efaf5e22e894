package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"

	"gateway/request"
)

// TokenVerifier checks presented tokens against the configured one. Both
// sides are HMACed with a per-process random key before a constant-time
// compare, so neither the content nor the length of the real token leaks
// through timing.
type TokenVerifier struct {
	want [sha256.Size]byte
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	buf []byte // reused so Verify does not allocate
}

// NewTokenVerifier returns a verifier for token, which must not be empty.
func NewTokenVerifier(token string) (*TokenVerifier, error) {
	if token == "" {
		return nil, errors.New("auth: empty token")
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("auth: random key: %w", err)
	}
	v := &TokenVerifier{}
	v.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key[:])} }
	m := v.pool.Get().(*macState)
	m.h.Reset()
	_, _ = m.h.Write([]byte(token))
	copy(v.want[:], m.h.Sum(m.sum[:0]))
	v.pool.Put(m)
	return v, nil
}

// Verify reports whether presented equals the configured token.
func (v *TokenVerifier) Verify(presented string) bool {
	m := v.pool.Get().(*macState)
	m.h.Reset()
	m.buf = append(m.buf[:0], presented...)
	_, _ = m.h.Write(m.buf)
	ok := hmac.Equal(m.h.Sum(m.sum[:0]), v.want[:])
	v.pool.Put(m)
	return ok
}

// WebSocketProtocolPrefix marks a bearer token carried in
// Sec-WebSocket-Protocol, for browser clients that cannot set headers on a
// WebSocket: "Sec-WebSocket-Protocol: bearer.<token>, chat".
const WebSocketProtocolPrefix = "bearer."

// Bearer returns the token of an "Authorization: Bearer <token>" style
// value. Tokens are never taken from the query string: URLs end up in logs
// and browser history.
func Bearer(v string) (string, bool) {
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	return rest, rest != ""
}

// ProtocolToken returns the token of the first bearer.<token> entry of
// Sec-WebSocket-Protocol.
func ProtocolToken(h http.Header) (string, bool) {
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(line, ",") {
			if t, ok := strings.CutPrefix(strings.TrimSpace(p), WebSocketProtocolPrefix); ok && t != "" {
				return t, true
			}
		}
	}
	return "", false
}

// tokenMethod is the shared token: the owner, as a bearer credential
// anywhere the gateway's credentials are taken, and as a sign-in secret
// where it is offered (token mode; the admin origin in the other modes).
type tokenMethod struct {
	a *Authenticator
	// v is nil when no token is configured: every value is then wrong.
	v *TokenVerifier
	// primary: token mode, where the sign-in page offers it everywhere.
	primary bool
}

func newTokenMethod(a *Authenticator, token string, primary bool) (*tokenMethod, error) {
	m := &tokenMethod{a: a, primary: primary}
	if token == "" {
		if primary {
			return nil, errors.New("auth: token mode needs a token (gateway.auth.token, GATEWAY_TOKEN or a writable state dir)")
		}
		return m, nil
	}
	var err error
	m.v, err = NewTokenVerifier(token)
	return m, err
}

func (m *tokenMethod) Name() string { return request.MethodToken }

func (m *tokenMethod) Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error) {
	return authenticateCredential(m, r, rec)
}

// takes every bearer value the device and session methods did not: a
// value that is not the token is a wrong guess, counted even while the
// store is down (the token is checked without it).
func (m *tokenMethod) takes(p presented) bool { return p.carrier != request.CredentialCookie }

func (m *tokenMethod) check(ctx context.Context, rec *request.Record, p presented) (*request.Identity, error) {
	att, err := m.a.reserve(ctx, ScopeToken, rec)
	if err != nil {
		return nil, err
	}
	if !m.verify(p.value) {
		return nil, m.a.failed(att)
	}
	att.Succeed()
	return &request.Identity{User: request.Owner, Method: request.MethodToken, Role: request.RoleAdmin}, nil
}

func (m *tokenMethod) offer(rec *request.Record) (Offer, bool) {
	if m.v == nil || !(m.primary || rec.Admin) {
		return Offer{}, false
	}
	return Offer{Field: SecretToken}, true
}

func (m *tokenMethod) scope() string { return ScopeToken }

func (m *tokenMethod) hashed() bool { return false }

func (m *tokenMethod) verify(secret string) bool { return m.v != nil && m.v.Verify(secret) }
