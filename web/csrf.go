package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
)

// CSRF protects the gateway's forms with a signed double-submit token: a
// random pre-session cookie, and in each form the HMAC of that cookie under
// a key only the gateway knows. A page of another site can neither read the
// cookie nor compute the HMAC; a cookie planted by a sibling subdomain does
// not match without the key (and behind https the __Host- prefix stops such
// planting outright). Form posts are also refused when the browser says they
// come from another site.
type CSRF struct {
	key func() []byte
}

// ErrCSRF means a form post without a valid token.
var ErrCSRF = errors.New("missing or wrong form token")

// NewCSRF returns a CSRF protector keyed with what key returns (derived
// from the signing keys every replica shares, so it may change when they
// do).
func NewCSRF(key func() []byte) *CSRF { return &CSRF{key: key} }

// cookieName is the pre-session cookie's name; behind https it gets the
// __Host- prefix (Secure, Path=/, no Domain).
func cookieName(https bool) string {
	if https {
		return "__Host-gateway_csrf"
	}
	return "gateway_csrf"
}

// Token returns the form token for the request, setting the pre-session
// cookie on w when the request has none.
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request, https bool) string {
	if ck, err := r.Cookie(cookieName(https)); err == nil && len(ck.Value) >= 32 {
		return c.sign(ck.Value)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	v := base64.RawURLEncoding.EncodeToString(raw[:])
	http.SetCookie(w, &http.Cookie{Name: cookieName(https), Value: v, Path: "/", HttpOnly: true,
		Secure: https, SameSite: http.SameSiteStrictMode})
	return c.sign(v)
}

// Check verifies a form post's token against its cookie, in constant time.
func (c *CSRF) Check(r *http.Request, https bool) error {
	ck, err := r.Cookie(cookieName(https))
	if err != nil || len(ck.Value) < 32 {
		return ErrCSRF
	}
	got := r.PostFormValue("csrf")
	if !hmac.Equal([]byte(got), []byte(c.sign(ck.Value))) {
		return ErrCSRF
	}
	return nil
}

func (c *CSRF) sign(v string) string {
	m := hmac.New(sha256.New, c.key())
	m.Write([]byte("gateway csrf v1|"))
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
