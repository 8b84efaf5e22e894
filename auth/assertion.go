package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gateway/config"
	"gateway/httperr"
	"gateway/request"
)

// assertionLeeway is the clock skew allowed on exp, nbf and iat.
const assertionLeeway = 60 * time.Second

// ErrBadAssertion is an assertion that fails verification.
var ErrBadAssertion = fmt.Errorf("%w: invalid assertion", ErrBadCredentials)

// assertionMethod takes the signed identity an access proxy in front puts
// in a header (Cloudflare Access Cf-Access-Jwt-Assertion, Pomerium
// X-Pomerium-Jwt-Assertion, Google IAP X-Goog-Iap-Jwt-Assertion): honoured
// only from the configured proxies, verified against the proxy's published
// keys (RS256 and ES256 only; iss, aud, exp and nbf checked).
type assertionMethod struct {
	a    *Authenticator
	c    config.AssertionTyped
	keys *keySet
}

func newAssertionMethod(a *Authenticator, c config.AssertionTyped, client *http.Client) (*assertionMethod, error) {
	if c.Header == "" || c.JWKSURL == "" || c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("auth: assertion needs header, jwksUrl, issuer and audience")
	}
	return &assertionMethod{a: a, c: c, keys: newKeySet(c.JWKSURL, client, a.st.Now)}, nil
}

func (m *assertionMethod) Name() string { return request.MethodAssertion }

// fromProxy reports whether the peer is one the assertions are taken from.
func (m *assertionMethod) fromProxy(peer netip.Addr) bool {
	peer = peer.Unmap()
	for _, p := range m.c.Proxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// Authenticate: a request from an assertion proxy with the header is
// judged by it alone; without it, by the other methods, unless assertions
// are required. Never on the admin listener, where a local process could
// replay a token it found.
func (m *assertionMethod) Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error) {
	if rec.AdminListener || !m.fromProxy(rec.Peer.Addr()) {
		return nil, nil
	}
	vals := r.Header.Values(m.c.Header)
	if len(vals) == 0 {
		if m.c.Required {
			e := httperr.New(http.StatusUnauthorized, "assertion_required", "the access proxy in front sent no identity assertion", ErrMissingCredentials)
			e.Header = http.Header{"Www-Authenticate": {`Bearer realm="gateway"`}}
			return nil, e
		}
		return nil, nil
	}
	att, err := m.a.reserve(r.Context(), ScopeAssertion, rec)
	if err != nil {
		return nil, err
	}
	c, err := m.verify(r.Context(), vals)
	if errors.Is(err, errKeysUnavailable) {
		att.Cancel()
		return nil, httperr.New(http.StatusServiceUnavailable, "assertion_keys_unavailable", "the access proxy's signing keys cannot be fetched now; retry shortly", err)
	}
	if err != nil {
		att.Fail()
		e := httperr.New(http.StatusUnauthorized, "invalid_assertion", "the identity assertion was refused", fmt.Errorf("%w: %w", ErrBadAssertion, err))
		e.Header = http.Header{"Www-Authenticate": {`Bearer realm="gateway"`}}
		return nil, e
	}
	att.Succeed()
	return m.a.people.admit(c)
}

// verify checks one assertion and maps it to a person.
func (m *assertionMethod) verify(ctx context.Context, vals []string) (claim, error) {
	c := claim{method: request.MethodAssertion}
	if len(vals) != 1 {
		return c, errors.New("more than one assertion header")
	}
	tok, err := jwt.ParseSigned(strings.TrimSpace(vals[0]), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return c, err
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return c, errors.New("no kid")
	}
	key, err := m.keys.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return c, err
	}
	var std jwt.Claims
	custom := map[string]any{}
	if err := tok.Claims(key, &std, &custom); err != nil {
		return c, err
	}
	if std.Expiry == nil {
		return c, errors.New("no exp")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: m.c.Issuer, AnyAudience: jwt.Audience{m.c.Audience}, Time: m.a.st.Now()}, assertionLeeway); err != nil {
		return c, err
	}
	user, _ := custom[m.c.UserClaim].(string)
	if cn, _ := custom["common_name"].(string); user == "" && cn != "" {
		// A Cloudflare Access service token has no email: its client
		// id names it, under a prefix no person's name can have.
		c.user, c.service = config.ServicePrefix+cn, true
	} else {
		c.user = user
	}
	if c.user == "" {
		return c, fmt.Errorf("no %s claim", m.c.UserClaim)
	}
	if email, _ := custom["email"].(string); email != "" {
		c.email = strings.ToLower(email)
	}
	if m.c.GroupsClaim != "" {
		c.groups = stringsOf(custom[m.c.GroupsClaim])
	}
	return c, nil
}
