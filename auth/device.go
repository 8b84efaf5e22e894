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
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/request"
	"gateway/state"
)

// Device auth parameters (SPEC "Identity: device").
const (
	NonceTTL     = 60 * time.Second
	MaxClockSkew = 120 * time.Second
	// maxNonces bounds outstanding challenges in all; maxNoncesPerClient
	// and maxNoncesPerNet bound them per client bucket (an address, IPv6
	// /64) and per coarse bucket (IPv4 /24, IPv6 /48), so one client
	// flooding challenges never starves another's. Past a bound, expired
	// ones are pruned and, if none expired, new challenges are refused
	// (429).
	maxNonces          = 10_000
	maxNoncesPerClient = 16
	maxNoncesPerNet    = 64
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
	ErrTooManyChallenges = errors.New("too many outstanding challenges")
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

// Nonces issues single-use challenges with bounded storage, bounded per
// client too.
type Nonces struct {
	mu     sync.Mutex
	now    func() time.Time
	m      map[string]issuedNonce
	counts map[netip.Prefix]int // outstanding per fine and per coarse bucket
}

type issuedNonce struct {
	exp          time.Time
	fine, coarse netip.Prefix
}

// NewNonces returns an empty challenge store.
func NewNonces(now func() time.Time) *Nonces {
	if now == nil {
		now = time.Now
	}
	return &Nonces{now: now, m: map[string]issuedNonce{}, counts: map[netip.Prefix]int{}}
}

// ClientBuckets returns the buckets a client address is counted in: its
// own (IPv4 /32, IPv6 /64, the unit an attacker is usually handed) and its
// network's (IPv4 /24, IPv6 /48).
func ClientBuckets(a netip.Addr) (fine, coarse netip.Prefix) {
	a = a.Unmap().WithZone("")
	fb, cb := 32, 24
	if a.Is6() {
		fb, cb = 64, 48
	}
	fine, _ = a.Prefix(fb)
	coarse, _ = a.Prefix(cb)
	return fine, coarse
}

func (n *Nonces) full(fine, coarse netip.Prefix) bool {
	return len(n.m) >= maxNonces || n.counts[fine] >= maxNoncesPerClient || n.counts[coarse] >= maxNoncesPerNet
}

func (n *Nonces) drop(k string, e issuedNonce) {
	delete(n.m, k)
	for _, p := range [2]netip.Prefix{e.fine, e.coarse} {
		if n.counts[p]--; n.counts[p] <= 0 {
			delete(n.counts, p)
		}
	}
}

// Issue returns a new nonce for client and its expiry.
func (n *Nonces) Issue(client netip.Addr) (string, time.Time, error) {
	fine, coarse := ClientBuckets(client)
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if n.full(fine, coarse) {
		for k, e := range n.m {
			if !now.Before(e.exp) {
				n.drop(k, e)
			}
		}
		if n.full(fine, coarse) {
			return "", time.Time{}, ErrTooManyChallenges
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	k := base64.RawURLEncoding.EncodeToString(b[:])
	exp := now.Add(NonceTTL)
	n.m[k] = issuedNonce{exp: exp, fine: fine, coarse: coarse}
	n.counts[fine]++
	n.counts[coarse]++
	return k, exp, nil
}

// Consume reports whether nonce was issued and unexpired, and removes it
// either way: a nonce is good for exactly one attempt.
func (n *Nonces) Consume(k string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.m[k]
	if !ok {
		return false
	}
	n.drop(k, e)
	return n.now().Before(e.exp)
}

// ConnectRequest is the body of POST /auth/device/connect.
type ConnectRequest struct {
	DeviceID   string `json:"deviceId"`
	PublicKey  string `json:"publicKey"`
	Nonce      string `json:"nonce"`
	SignedAtMs int64  `json:"signedAtMs"`
	Role       string `json:"role"`
	Signature  string `json:"signature"`
}

func decodeB64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}

// VerifyConnect checks a connect request's shape, nonce, clock and
// signature. It consumes the nonce. It does not look at pairing.
func VerifyConnect(req ConnectRequest, nonces *Nonces, now time.Time) (ed25519.PublicKey, error) {
	if !ValidRole(req.Role) || req.DeviceID == "" || req.Nonce == "" {
		return nil, ErrBadDeviceRequest
	}
	// Consume first: a malformed attempt still burns the nonce.
	if !nonces.Consume(req.Nonce) {
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
// signs; every key in the file verifies, so a key can be rotated by adding
// a new one and removing the old after the token lifetime.
type TokenIssuer struct {
	keys   map[string]ed25519.PrivateKey
	signer signingKey
	now    func() time.Time
}

// LoadOrCreateKeys opens <stateDir>/identity/device-token-keys.json,
// generating the first key (0600 in a 0700 dir) if absent.
func LoadOrCreateKeys(stateDir string, now func() time.Time) (*TokenIssuer, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := state.EnsureSubdir(stateDir, "identity"); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, KeysFile)
	err := state.Update(context.Background(), path, func(old []byte) ([]byte, error) {
		if len(old) > 0 {
			return old, nil
		}
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		kid := make([]byte, 8)
		_, _ = rand.Read(kid)
		return state.EncodeJSON(keysFile{Version: 1, Keys: []signingKey{{KID: hex.EncodeToString(kid), Seed: base64.StdEncoding.EncodeToString(seed), CreatedAtMs: now().UnixMilli()}}})
	})
	if err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	f, err := state.DecodeJSON[keysFile](data, path)
	if err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("device keys: %w: %s holds no key", state.ErrCorrupt, path)
	}
	t := &TokenIssuer{keys: map[string]ed25519.PrivateKey{}, now: now}
	for _, k := range f.Keys {
		seed, err := base64.StdEncoding.DecodeString(k.Seed)
		if err != nil || len(seed) != ed25519.SeedSize || k.KID == "" {
			return nil, fmt.Errorf("device keys: %s has a bad key", path)
		}
		k.priv = ed25519.NewKeyFromSeed(seed)
		t.keys[k.KID] = k.priv
		if k.CreatedAtMs >= t.signer.CreatedAtMs {
			t.signer = k
		}
	}
	return t, nil
}

// DeriveKey derives a secret for another purpose (the browser forms' CSRF
// key) from the signing key, so every gateway sharing the keys shares it too.
func (t *TokenIssuer) DeriveKey(label string) []byte {
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
	tok.Header["kid"] = t.signer.KID
	s, err := tok.SignedString(t.signer.priv)
	return s, exp, err
}

// Parse verifies a device token's signature, algorithm, issuer, audience
// and lifetime. "alg: none", HMAC confusion and unknown kids are refused.
func (t *TokenIssuer) Parse(s string) (*DeviceClaims, error) {
	claims := &DeviceClaims{}
	_, err := jwt.ParseWithClaims(s, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := t.keys[kid]
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return k.Public(), nil
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
