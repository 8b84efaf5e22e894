package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/request"
	"gateway/state"
	"gateway/store"
)

// Device auth parameters (SPEC "Identity: device").
const (
	NonceTTL     = store.NonceTTL
	MaxClockSkew = 120 * time.Second
	// KeysFile holds the device-token signing keys, relative to the state dir.
	KeysFile    = "identity/device-token-keys.json"
	tokenIssuer = "gateway"
)

// ValidRole reports whether a device may ask for role.
func ValidRole(role string) bool {
	return role == request.RoleOperator || role == request.RoleNode || role == request.RoleAdmin
}

// Device auth errors. All are wrong credentials (they count toward the
// lockout) except ErrTooManyChallenges.
var (
	ErrBadDeviceRequest  = errors.New("malformed device request")
	ErrBadNonce          = errors.New("unknown, expired or reused nonce")
	ErrClockSkew         = errors.New("signedAtMs too far from the server clock")
	ErrBadSignature      = errors.New("signature does not verify")
	ErrIDMismatch        = errors.New("deviceId is not the SHA-256 of publicKey")
	ErrRoleNotApproved   = errors.New("role not approved for this device")
	ErrBadDeviceToken    = errors.New("invalid device token")
	ErrTooManyChallenges = store.ErrTooManyChallenges
)

// DeviceID returns the id of a raw Ed25519 public key: hex SHA-256.
func DeviceID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// SignedPayload is what a device signs to connect.
func SignedPayload(deviceID, role string, signedAtMs int64, nonce string) []byte {
	return []byte("v1|" + deviceID + "|" + role + "|" + strconv.FormatInt(signedAtMs, 10) + "|" + nonce)
}

// ConnectRequest is the body of POST /auth/device/connect.
type ConnectRequest struct {
	DeviceID   string `json:"deviceId"`
	PublicKey  string `json:"publicKey"`
	Nonce      string `json:"nonce"`
	SignedAtMs int64  `json:"signedAtMs"`
	Role       string `json:"role"`
	Signature  string `json:"signature"`
	// Invite, when set, is a device invitation's code: an unknown device
	// that presents a valid one is paired at once with the invitation's
	// role, without waiting for the owner.
	Invite string `json:"invite,omitempty"`
}

func decodeB64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}

// VerifyConnect checks a connect request's shape, nonce, clock and
// signature. It consumes the nonce. It does not look at pairing.
func VerifyConnect(ctx context.Context, req ConnectRequest, nonces store.Nonces, now time.Time) (ed25519.PublicKey, error) {
	if !ValidRole(req.Role) || req.DeviceID == "" || req.Nonce == "" {
		return nil, ErrBadDeviceRequest
	}
	// Consume first: a malformed attempt still burns the nonce.
	ok, err := nonces.Consume(ctx, req.Nonce)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBadNonce
	}
	pubRaw, err := decodeB64URL(req.PublicKey)
	if err != nil || len(pubRaw) != ed25519.PublicKeySize {
		return nil, ErrBadDeviceRequest
	}
	sig, err := decodeB64URL(req.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, ErrBadSignature
	}
	pub := ed25519.PublicKey(pubRaw)
	if DeviceID(pub) != strings.ToLower(req.DeviceID) {
		return nil, ErrIDMismatch
	}
	skew := now.Sub(time.UnixMilli(req.SignedAtMs))
	if skew > MaxClockSkew || skew < -MaxClockSkew {
		return nil, ErrClockSkew
	}
	if !ed25519.Verify(pub, SignedPayload(strings.ToLower(req.DeviceID), req.Role, req.SignedAtMs, req.Nonce), sig) {
		return nil, ErrBadSignature
	}
	return pub, nil
}

// signingKey is one device-token key.
type signingKey struct {
	KID         string `json:"kid"`
	Seed        string `json:"seed"` // base64 Ed25519 seed
	CreatedAtMs int64  `json:"createdAtMs"`
	priv        ed25519.PrivateKey
}

type keysFile struct {
	Version int          `json:"version"`
	Keys    []signingKey `json:"keys"`
}

// TokenIssuer signs and verifies device tokens (EdDSA JWTs). The newest key
// signs; every key in the document verifies, so a key can be rotated by
// adding a new one and removing the old after the token lifetime. Replicas
// share the document, so every replica verifies every replica's tokens.
type TokenIssuer struct {
	now func() time.Time

	mu     sync.RWMutex
	keys   map[string]signingKey
	signer signingKey
	ver    string
}

// LoadOrCreateKeys opens the signing-keys document, generating the first
// key if there is none (created once: of several replicas starting at once,
// one creates it and all load it).
func LoadOrCreateKeys(docs store.Docs, now func() time.Time) (*TokenIssuer, error) {
	if now == nil {
		now = time.Now
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	kid := make([]byte, 8)
	_, _ = rand.Read(kid)
	first, err := state.EncodeJSON(keysFile{Version: 1, Keys: []signingKey{{KID: hex.EncodeToString(kid), Seed: base64.StdEncoding.EncodeToString(seed), CreatedAtMs: now().UnixMilli()}}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := docs.CreateOnce(ctx, KeysFile, first); err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	t := &TokenIssuer{now: now, keys: map[string]signingKey{}}
	if err := t.refresh(docs); err != nil {
		return nil, err
	}
	return t, nil
}

// refresh loads the keys document if it changed and makes the document and
// this replica agree on the union of their keys: a key once loaded keeps
// verifying, and a document the store lost (a Redis restarted empty) or
// replaced (a replica that started meanwhile created a new key) gets the
// keys back, so every replica verifies every token.
func (t *TokenIssuer) refresh(docs store.Docs) error {
	t.mu.RLock()
	since := t.ver
	t.mu.RUnlock()
	data, ver, changed, err := docs.Load(context.Background(), KeysFile, since)
	if err != nil {
		return fmt.Errorf("device keys: %w", err)
	}
	if !changed {
		return nil
	}
	where := docs.Where(KeysFile)
	loaded, err := decodeKeys(data, where)
	if err != nil {
		return err
	}
	t.mu.Lock()
	for _, k := range loaded {
		t.keys[k.KID] = k
		if t.signer.priv == nil || k.CreatedAtMs > t.signer.CreatedAtMs ||
			(k.CreatedAtMs == t.signer.CreatedAtMs && k.KID > t.signer.KID) {
			t.signer = k
		}
	}
	t.ver = ver
	missing := len(t.keys) > len(loaded)
	all := make([]signingKey, 0, len(t.keys))
	for _, k := range t.keys {
		all = append(all, k)
	}
	t.mu.Unlock()
	if len(all) == 0 {
		return fmt.Errorf("device keys: %w: %s holds no key", state.ErrCorrupt, where)
	}
	if !missing {
		return nil
	}
	return docs.Update(context.Background(), KeysFile, func(old []byte) ([]byte, error) {
		cur, err := decodeKeys(old, where)
		if err != nil && len(old) > 0 {
			return nil, err
		}
		have := map[string]bool{}
		for _, k := range cur {
			have[k.KID] = true
		}
		for _, k := range all {
			if !have[k.KID] {
				cur = append(cur, k)
			}
		}
		sort.Slice(cur, func(i, j int) bool { return cur[i].CreatedAtMs < cur[j].CreatedAtMs })
		return state.EncodeJSON(keysFile{Version: 1, Keys: cur})
	})
}

// decodeKeys parses the keys document (none when it is absent).
func decodeKeys(data []byte, where string) ([]signingKey, error) {
	f, err := state.DecodeJSON[keysFile](data, where)
	if err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	out := make([]signingKey, 0, len(f.Keys))
	for _, k := range f.Keys {
		seed, err := base64.StdEncoding.DecodeString(k.Seed)
		if err != nil || len(seed) != ed25519.SeedSize || k.KID == "" {
			return nil, fmt.Errorf("device keys: %s has a bad key", where)
		}
		k.priv = ed25519.NewKeyFromSeed(seed)
		out = append(out, k)
	}
	return out, nil
}

// DeriveKey derives a secret for another purpose (the browser forms' CSRF
// key) from the signing key, so every gateway sharing the keys shares it too.
func (t *TokenIssuer) DeriveKey(label string) []byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m := hmac.New(sha256.New, t.signer.priv.Seed())
	m.Write([]byte("gateway derived key|" + label))
	return m.Sum(nil)
}

// DeviceClaims are a device token's claims.
type DeviceClaims struct {
	Role string `json:"role"`
	// PairingID names the pairing the token was issued under. Every
	// pairing gets a fresh one, so a revocation kills every token issued
	// before it, even when the device pairs again within the same
	// millisecond (iat has second granularity and could not tell).
	PairingID string `json:"pid"`
	jwt.RegisteredClaims
}

// Issue signs a token for a paired device.
func (t *TokenIssuer) Issue(dev PairedDevice, role string, ttl time.Duration) (string, time.Time, error) {
	now := t.now()
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	exp := now.Add(ttl)
	deviceID := dev.DeviceID
	claims := DeviceClaims{Role: role, PairingID: dev.PairingID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: tokenIssuer, Audience: jwt.ClaimStrings{tokenIssuer}, Subject: deviceID,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
		ExpiresAt: jwt.NewNumericDate(exp), ID: hex.EncodeToString(jti[:]),
	}}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.mu.RLock()
	signer := t.signer
	t.mu.RUnlock()
	tok.Header["kid"] = signer.KID
	s, err := tok.SignedString(signer.priv)
	return s, exp, err
}

// Parse verifies a device token's signature, algorithm, issuer, audience
// and lifetime. "alg: none", HMAC confusion and unknown kids are refused.
func (t *TokenIssuer) Parse(s string) (*DeviceClaims, error) {
	claims := &DeviceClaims{}
	_, err := jwt.ParseWithClaims(s, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		t.mu.RLock()
		k, ok := t.keys[kid]
		t.mu.RUnlock()
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return k.priv.Public(), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(tokenIssuer), jwt.WithAudience(tokenIssuer),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(t.now))
	if err != nil || claims.Subject == "" || claims.ID == "" {
		return nil, ErrBadDeviceToken
	}
	return claims, nil
}

// LooksLikeJWT reports whether a bearer value has a JWT's shape, to route it
// to device-token verification rather than the shared-token compare.
func LooksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && strings.HasPrefix(s, "eyJ")
}
