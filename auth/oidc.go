package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gateway/config"
	"gateway/cookie"
	"gateway/httperr"
	"gateway/request"
)

// OIDC sign-in paths.
const (
	OIDCStartPath    = "/auth/oidc/start"
	OIDCCallbackPath = "/auth/oidc/callback"
)

// oidcStateTTL bounds a sign-in at the provider.
const oidcStateTTL = 10 * time.Minute

// oidcAlgs are the ID-token signatures accepted: asymmetric only. An HMAC
// token would be signed with the client secret, which the gateway holds
// too, and "none" is no signature at all.
var oidcAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// Refusals of an OIDC callback. None counts toward the lockout: any web
// page can make a browser load a callback URL, and nothing in one is a
// guess at a secret.
var (
	ErrOIDCState    = errors.New("oidc: state missing, foreign, expired or replayed")
	ErrOIDCProvider = errors.New("oidc: the provider refused or could not be reached")
	ErrOIDCToken    = errors.New("oidc: ID token refused")
	ErrOIDCEmail    = errors.New("oidc: email not verified")
)

// oidcMethod signs people in with their OpenID provider: the authorization
// code flow with PKCE S256, state and nonce in a short-lived signed cookie
// bound to the browser, the ID token verified through the provider's keys
// (rotation included), claims merged with userinfo, then admission and a
// session that remembers who signed in.
type oidcMethod struct {
	a      *Authenticator
	c      config.OIDCTyped
	client *http.Client

	mu sync.Mutex
	// p is the provider, discovered at the first sign-in (a provider
	// that is down at startup does not stop the gateway) and kept.
	p *discovered
}

// discovered is what the provider's discovery document says.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	// issParam: the provider sends RFC 9207's iss with the code.
	issParam   bool
	endSession string
}

func newOIDCMethod(a *Authenticator, c config.OIDCTyped, client *http.Client) (*oidcMethod, error) {
	if c.RedirectURL == nil {
		return nil, errors.New("auth: oidc needs a callback URL (gateway.auth.oidc.redirectUrl or gateway.publicUrl)")
	}
	return &oidcMethod{a: a, c: c, client: client}, nil
}

func (m *oidcMethod) Name() string { return request.MethodOIDC }

// Authenticate: requests carry the session the sign-in opened.
func (m *oidcMethod) Authenticate(*http.Request, *request.Record) (*request.Identity, error) {
	return nil, nil
}

func (m *oidcMethod) offer(rec *request.Record) (Offer, bool) {
	if rec.Admin {
		return Offer{}, false
	}
	return Offer{Link: OIDCStartPath, Label: "Sign in with " + m.c.Name}, true
}

// Routes are the start and the callback, on the agent origin.
func (m *oidcMethod) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Path: OIDCStartPath, Handler: m.start, AgentOnly: true},
		{Method: http.MethodGet, Path: OIDCCallbackPath, Handler: m.callback, AgentOnly: true},
	}
}

func (m *oidcMethod) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, 10*time.Second)
	ctx = oidc.ClientContext(ctx, m.client)
	return context.WithValue(ctx, oauth2.HTTPClient, m.client), cancel
}

// discover fetches the provider's discovery document once; a failure is
// retried at the next sign-in.
func (m *oidcMethod) discover(ctx context.Context) (*discovered, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		return m.p, nil
	}
	p, err := oidc.NewProvider(ctx, m.c.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		IssParam   bool   `json:"authorization_response_iss_parameter_supported"`
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&meta)
	m.p = &discovered{provider: p, issParam: meta.IssParam, endSession: meta.EndSession,
		verifier: p.VerifierContext(oidc.ClientContext(context.Background(), m.client), &oidc.Config{ClientID: m.c.ClientID, SupportedSigningAlgs: oidcAlgs})}
	return m.p, nil
}

func (m *oidcMethod) oauth(p *discovered) *oauth2.Config {
	return &oauth2.Config{ClientID: m.c.ClientID, ClientSecret: m.c.ClientSecret, Endpoint: p.provider.Endpoint(),
		RedirectURL: m.c.RedirectURL.String(), Scopes: m.c.Scopes}
}

// oidcState is what the state cookie carries between start and callback.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	RD       string `json:"rd"`
	Expires  int64  `json:"e"`
}

func (m *oidcMethod) stateKey() []byte { return m.a.st.Tokens.DeriveKey("oidc state") }

func (m *oidcMethod) seal(s oidcState) string {
	b, _ := json.Marshal(s)
	body := base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, m.stateKey())
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (m *oidcMethod) open(v string, now time.Time) (oidcState, bool) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return oidcState{}, false
	}
	mac := hmac.New(sha256.New, m.stateKey())
	mac.Write([]byte(body))
	want := mac.Sum(nil)
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return oidcState{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	var s oidcState
	if err != nil || json.Unmarshal(raw, &s) != nil || now.Unix() > s.Expires || s.State == "" || s.Nonce == "" || s.Verifier == "" {
		return oidcState{}, false
	}
	return s, true
}

func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// start sends the browser to the provider.
func (m *oidcMethod) start(w http.ResponseWriter, r *http.Request) {
	rec := recordOf(r)
	ctx, cancel := m.ctx(r.Context())
	defer cancel()
	p, err := m.discover(ctx)
	if err != nil {
		httperr.Write(w, r, httperr.New(http.StatusBadGateway, "oidc_unavailable", "the sign-in provider could not be reached; try again", fmt.Errorf("%w: discovery: %w", ErrOIDCProvider, err)))
		return
	}
	s := oidcState{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		RD: r.URL.Query().Get("rd"), Expires: m.a.st.Now().Add(oidcStateTTL).Unix()}
	// Lax: the provider's redirect back is a top-level navigation from
	// another site, which a Lax cookie accompanies and a Strict one not.
	cookie.Set(w, cookie.OIDC, rec.Proto, m.seal(s), m.a.st.Now().Add(oidcStateTTL), http.SameSiteLaxMode)
	u := m.oauth(p).AuthCodeURL(s.State, oidc.Nonce(s.Nonce), oauth2.S256ChallengeOption(s.Verifier))
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// oidcRefusal is a callback answered 400 with a page, never counted.
func oidcRefusal(code, msg string, cause error) error {
	return httperr.New(http.StatusBadRequest, code, msg, cause)
}

// callback finishes a sign-in: state, code, ID token, claims, admission,
// session.
func (m *oidcMethod) callback(w http.ResponseWriter, r *http.Request) {
	id, rd, res, err := m.finish(w, r)
	m.a.observed(request.MethodOIDC, err)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	rec := recordOf(r)
	rec.Identity = id
	m.a.SetCookies(w, r, res)
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

func (m *oidcMethod) finish(w http.ResponseWriter, r *http.Request) (*request.Identity, string, LoginResult, error) {
	rec := recordOf(r)
	q := r.URL.Query()
	raw := cookie.Only(r, cookie.OIDC, rec.Proto)
	// The state is single-use: the cookie goes, whatever happens next.
	cookie.Clear(w, cookie.OIDC, rec.Proto)
	s, ok := m.open(raw, m.a.st.Now())
	if raw == "" || !ok || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(s.State)) != 1 {
		return nil, "", LoginResult{}, oidcRefusal("oidc_state", "this sign-in link is not from this browser, was already used or expired; start again", ErrOIDCState)
	}
	if e := q.Get("error"); e != "" {
		return nil, "", LoginResult{}, oidcRefusal("oidc_refused", "the sign-in provider did not sign you in", fmt.Errorf("%w: error %q", ErrOIDCProvider, e))
	}
	ctx, cancel := m.ctx(r.Context())
	defer cancel()
	p, err := m.discover(ctx)
	if err != nil {
		return nil, "", LoginResult{}, httperr.New(http.StatusBadGateway, "oidc_unavailable", "the sign-in provider could not be reached; try again", fmt.Errorf("%w: discovery: %w", ErrOIDCProvider, err))
	}
	// RFC 9207: the authorization response names its issuer, so a
	// response from another provider (mix-up) is refused.
	if iss := q.Get("iss"); (p.issParam || iss != "") && iss != m.c.Issuer {
		return nil, "", LoginResult{}, oidcRefusal("oidc_issuer", "the sign-in answer came from another provider", fmt.Errorf("%w: iss %q", ErrOIDCToken, iss))
	}
	tok, err := m.oauth(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(s.Verifier))
	if err != nil {
		// An unknown, used or expired code is answered like a replay.
		return nil, "", LoginResult{}, oidcRefusal("oidc_state", "this sign-in link is not from this browser, was already used or expired; start again", fmt.Errorf("%w: exchange: %w", ErrOIDCProvider, err))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, "", LoginResult{}, oidcRefusal("oidc_token", "the sign-in provider sent no ID token", ErrOIDCToken)
	}
	idt, err := p.verifier.Verify(ctx, rawID)
	if err != nil {
		return nil, "", LoginResult{}, oidcRefusal("oidc_token", "the sign-in provider's answer could not be verified", fmt.Errorf("%w: %w", ErrOIDCToken, err))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(s.Nonce)) != 1 {
		return nil, "", LoginResult{}, oidcRefusal("oidc_token", "the sign-in provider's answer could not be verified", fmt.Errorf("%w: nonce mismatch", ErrOIDCToken))
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, "", LoginResult{}, oidcRefusal("oidc_token", "the sign-in provider's answer could not be read", fmt.Errorf("%w: claims: %w", ErrOIDCToken, err))
	}
	if p.provider.UserInfoEndpoint() != "" {
		if err := m.mergeUserInfo(ctx, p, tok, idt.Subject, claims); err != nil {
			return nil, "", LoginResult{}, err
		}
	}
	c, err := m.claimOf(claims)
	if err != nil {
		return nil, "", LoginResult{}, err
	}
	id, err := m.a.people.admit(c)
	if err != nil {
		return nil, "", LoginResult{}, err
	}
	who := Opened{Origin: OriginAgent, User: id.User, Method: request.MethodOIDC, Groups: c.groups, Email: c.email, MaxAge: m.c.MaxSessionAge}
	token, exp, err := m.a.st.Sessions.Create(ctx, m.a.sessions, who)
	if err != nil {
		return nil, "", LoginResult{}, err
	}
	sso, err := m.a.openSSO(ctx, who)
	if err != nil {
		return nil, "", LoginResult{}, err
	}
	id.Method, id.OpenedWith = request.MethodSession, request.MethodOIDC
	return id, m.a.redirect(r, s.RD), LoginResult{Token: token, Expires: exp, SSO: sso}, nil
}

// mergeUserInfo fills the claims the ID token lacks from userinfo (many
// providers put email only there); the ID token's own claims win. The
// userinfo answer must be about the same subject.
func (m *oidcMethod) mergeUserInfo(ctx context.Context, p *discovered, tok *oauth2.Token, sub string, claims map[string]any) error {
	ui, err := p.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return httperr.New(http.StatusBadGateway, "oidc_unavailable", "the sign-in provider could not be reached; try again", fmt.Errorf("%w: userinfo: %w", ErrOIDCProvider, err))
	}
	if ui.Subject != sub {
		return oidcRefusal("oidc_token", "the sign-in provider's answer could not be verified", fmt.Errorf("%w: userinfo subject %q is not the ID token's", ErrOIDCToken, ui.Subject))
	}
	extra := map[string]any{}
	if err := ui.Claims(&extra); err != nil {
		return oidcRefusal("oidc_token", "the sign-in provider's answer could not be read", fmt.Errorf("%w: userinfo: %w", ErrOIDCToken, err))
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// claimOf maps the claims to a person: userClaim names them (an email must
// be verified: absent counts as not), groupsClaim lists their groups.
func (m *oidcMethod) claimOf(claims map[string]any) (claim, error) {
	c := claim{method: request.MethodOIDC}
	verified := truthy(claims["email_verified"])
	if email, _ := claims["email"].(string); email != "" && verified {
		c.email = strings.ToLower(email)
	}
	user, _ := claims[m.c.UserClaim].(string)
	if strings.TrimSpace(user) == "" {
		return c, oidcRefusal("oidc_claims", "the sign-in provider did not say who you are ("+m.c.UserClaim+")", fmt.Errorf("%w: no %s claim", ErrOIDCToken, m.c.UserClaim))
	}
	if m.c.UserClaim == "email" && !verified {
		return c, oidcRefusal("oidc_email_unverified", "your email address is not verified at the sign-in provider", ErrOIDCEmail)
	}
	c.user = user
	if m.c.GroupsClaim != "" {
		c.groups = stringsOf(claims[m.c.GroupsClaim])
	}
	return c, nil
}

// truthy reads a boolean claim; some providers send "true" as a string.
func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

// stringsOf reads a list-of-strings claim (or a single string).
func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ProviderSignOut is the provider's end_session_endpoint, when it
// advertises one and OIDC is on ("" otherwise), for the sign-out page.
func (a *Authenticator) ProviderSignOut() string {
	for _, m := range a.signIns {
		if om, ok := m.(*oidcMethod); ok {
			om.mu.Lock()
			defer om.mu.Unlock()
			if om.p != nil && om.p.endSession != "" {
				u, err := url.Parse(om.p.endSession)
				if err != nil {
					return ""
				}
				q := u.Query()
				q.Set("client_id", om.c.ClientID)
				u.RawQuery = q.Encode()
				return u.String()
			}
		}
	}
	return ""
}
