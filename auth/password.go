package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"gateway/request"
)

// Argon2id parameters for new hashes (OWASP's recommended minimum is
// m=19 MiB, t=2, p=1; these are a little stronger). Verification uses the
// parameters stored in the hash.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Bounds on parameters accepted from a stored hash, so a hostile or corrupt
// config cannot make a login cost minutes or gigabytes.
const (
	maxArgonMemory = 1 << 20 // 1 GiB in KiB
	maxArgonTime   = 20
	maxArgonPar    = 16
)

// ErrBadHash reports a password hash that is not a usable argon2id PHC string.
var ErrBadHash = errors.New("not an argon2id hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")

// PasswordHash is a parsed argon2id PHC string.
type PasswordHash struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	Salt    []byte
	Key     []byte
}

// HashPassword hashes password with fresh salt and returns the PHC string.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	h := PasswordHash{Memory: argonMemory, Time: argonTime, Threads: argonThreads, Salt: salt}
	h.Key = argon2.IDKey([]byte(password), salt, h.Time, h.Memory, h.Threads, argonKeyLen)
	return h.String(), nil
}

// String formats the hash as a PHC string.
func (h PasswordHash) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.Memory, h.Time, h.Threads,
		enc.EncodeToString(h.Salt), enc.EncodeToString(h.Key))
}

// ParsePasswordHash parses an argon2id PHC string, refusing other
// algorithms, versions and out-of-bounds parameters.
func ParsePasswordHash(s string) (PasswordHash, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return PasswordHash{}, ErrBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return PasswordHash{}, ErrBadHash
	}
	var h PasswordHash
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return PasswordHash{}, ErrBadHash
	}
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], want)
		if !ok {
			return PasswordHash{}, ErrBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return PasswordHash{}, ErrBadHash
		}
		switch i {
		case 0:
			if n < 8 || n > maxArgonMemory {
				return PasswordHash{}, ErrBadHash
			}
			h.Memory = uint32(n)
		case 1:
			if n > maxArgonTime {
				return PasswordHash{}, ErrBadHash
			}
			h.Time = uint32(n)
		case 2:
			if n > maxArgonPar {
				return PasswordHash{}, ErrBadHash
			}
			h.Threads = uint8(n)
		}
	}
	var err error
	if h.Salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.Salt) < 8 || len(h.Salt) > 64 {
		return PasswordHash{}, ErrBadHash
	}
	if h.Key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.Key) < 16 || len(h.Key) > 64 {
		return PasswordHash{}, ErrBadHash
	}
	return h, nil
}

// Verify reports whether password matches, comparing in constant time.
func (h PasswordHash) Verify(password string) bool {
	got := argon2.IDKey([]byte(password), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(got, h.Key) == 1
}

// passwordMethod is signing in with the owner's password (password mode):
// a form or JSON sign-in opens a session; the password itself is never a
// per-request credential (hashing on every request would be a
// denial-of-service lever).
type passwordMethod struct {
	a    *Authenticator
	hash PasswordHash
}

func newPasswordMethod(a *Authenticator, password, hash string) (*passwordMethod, error) {
	h, err := passwordHashFrom(password, hash)
	if err != nil {
		return nil, err
	}
	return &passwordMethod{a: a, hash: h}, nil
}

func (m *passwordMethod) Name() string { return request.MethodPassword }

// Authenticate: requests carry the session the password opened, never the
// password.
func (m *passwordMethod) Authenticate(*http.Request, *request.Record) (*request.Identity, error) {
	return nil, nil
}

func (m *passwordMethod) offer(*request.Record) (Offer, bool) {
	return Offer{Field: SecretPassword}, true
}

func (m *passwordMethod) scope() string { return ScopePassword }

func (m *passwordMethod) hashed() bool { return true }

func (m *passwordMethod) verify(secret string) bool { return m.hash.Verify(secret) }

// passwordHashFrom hashes a configured password once (the plaintext is not
// kept), or parses a configured hash. A password wins over a hash: config
// loading puts the environment's password there, so rotating it through
// the environment works even when the file holds a hash.
func passwordHashFrom(password, hash string) (PasswordHash, error) {
	if password != "" {
		s, err := HashPassword(password)
		if err != nil {
			return PasswordHash{}, err
		}
		return ParsePasswordHash(s)
	}
	if hash == "" {
		return PasswordHash{}, errors.New("auth: password mode needs gateway.auth.password or passwordHash")
	}
	h, err := ParsePasswordHash(hash)
	if err != nil {
		return PasswordHash{}, errors.New("auth: gateway.auth.passwordHash: " + err.Error())
	}
	return h, nil
}
