package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"gateway/request"
	"gateway/state"
	"gateway/store"
)

// SessionsFile is the sessions document (a file relative to the state dir,
// or a Redis key). Only SHA-256 hashes of session tokens are stored: a copy
// of it does not let anyone sign in.
const SessionsFile = "credentials/gateway-sessions.json"

// SessionTokenPrefix starts every session token, so a bearer value is known
// to be a session (or not) before anything is looked up: a session that
// cannot be checked because the store is down is then answered 503 and
// never counted as a failed guess, while a value that is not one is only
// ever compared with the shared token (which may not start with it), so
// an outage is no oracle for guessing the shared token. base64url never
// produces ".", so no generated token starts with it.
const SessionTokenPrefix = "gws."

// IsSessionToken reports whether a bearer value has the session form.
func IsSessionToken(tok string) bool { return strings.HasPrefix(tok, SessionTokenPrefix) }

// ErrNoSession means the session token is unknown, expired or revoked.
var ErrNoSession = errors.New("no such session")

// SessionPolicy is the session lifetime rule of one configuration, passed
// with every call (see LockoutPolicy for why it is not stored).
type SessionPolicy struct {
	// Idle ends a session unused this long.
	Idle time.Duration
	// Absolute ends any session this long after sign-in.
	Absolute time.Duration
}

// Session is one sign-in, and who signed in: the identity it was opened
// for and the origin it belongs to.
type Session struct {
	ID        string    `json:"id"` // hex SHA-256 of the token
	CreatedAt time.Time `json:"createdAt"`
	LastSeen  time.Time `json:"lastSeen"`
	ExpiresAt time.Time `json:"expiresAt"` // absolute expiry at creation
	Opened
}

// Opened is what a session was opened for. Sessions from before it was
// stored read as the owner's, on the agent origin.
type Opened struct {
	// Origin is OriginAgent ("" in files written before origins) or
	// OriginAdmin. A session answers only on its own origin.
	Origin string `json:"origin,omitempty"`
	// User and Method are who signed in and how. Role is kept for the
	// owner's sessions; a person's role is recomputed on every request.
	User   string `json:"user,omitempty"`
	Role   string `json:"role,omitempty"`
	Method string `json:"method,omitempty"`
	// Groups are the groups the provider reported at sign-in, and Email
	// the verified address (a person's sessions).
	Groups []string `json:"groups,omitempty"`
	Email  string   `json:"email,omitempty"`
	// MaxAge, when set, ends the session this long after sign-in, before
	// the session policy's absolute timeout (oidc.maxSessionAge).
	MaxAge time.Duration `json:"maxAge,omitempty"`
}

// Session origins.
const (
	OriginAgent = "agent"
	OriginAdmin = "admin"
	// OriginSSO is forward auth's domain-wide sign-in: its sessions
	// answer only /auth/verify and /auth/login, never the agent.
	OriginSSO = "sso"
)

// origin returns the session's origin, OriginAgent for old records.
func (o Opened) origin() string {
	if o.Origin == "" {
		return OriginAgent
	}
	return o.Origin
}

// OriginName is the session's origin (OriginAgent for old records).
func (o Opened) OriginName() string { return o.origin() }

// UserName is who signed in (the owner for old records).
func (o Opened) UserName() string {
	u, _, _ := o.identity()
	return u
}

// identity returns who the session is, with the defaults of old records.
func (o Opened) identity() (user, role, method string) {
	user, role, method = o.User, o.Role, o.Method
	if user == "" {
		user, role = request.Owner, request.RoleAdmin
	}
	if method == "" {
		method = request.MethodSession
	}
	return user, role, method
}

func (se Session) alive(p SessionPolicy, now time.Time) bool {
	return now.Before(se.ExpiresAt) && now.Before(se.CreatedAt.Add(p.Absolute)) && now.Sub(se.LastSeen) < p.Idle
}

type sessionsFile struct {
	Version  int       `json:"version"`
	Sessions []Session `json:"sessions"`
}

// touchEvery bounds how often idle-time updates are written to disk. A
// restart can lose at most this much, which only makes sessions expire
// sooner.
const touchEvery = time.Minute

// maxSessions bounds the store; the oldest sessions go first.
const maxSessions = 1000

// SessionStore keeps sessions in the store, so they survive a restart and
// are shared by every process (and, on Redis, every replica). Writes are
// atomic read-modify-writes of the document, so two processes do not lose
// each other's sessions, and a sign-out on one replica ends the session on
// all at the next request.
type SessionStore struct {
	docs store.Docs
	now  func() time.Time
	file *store.Cached[map[string]Session]

	mu          sync.Mutex
	touched     map[string]time.Time // last uses not yet written
	lastPersist time.Time
}

// NewSessionStore opens the sessions document in docs.
func NewSessionStore(docs store.Docs, now func() time.Time) (*SessionStore, error) {
	if now == nil {
		now = time.Now
	}
	s := &SessionStore{docs: docs, now: now, touched: map[string]time.Time{},
		file: store.NewCached(docs, SessionsFile, func(data []byte) (map[string]Session, error) {
			return decodeSessions(data, docs.Where(SessionsFile))
		})}
	if _, err := s.file.Get(context.Background()); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	return s, nil
}

// SessionID is the stored form of a session token.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func decodeSessions(data []byte, where string) (map[string]Session, error) {
	out := map[string]Session{}
	f, err := state.DecodeJSON[sessionsFile](data, where)
	if err != nil {
		return nil, err
	}
	for _, se := range f.Sessions {
		out[se.ID] = se
	}
	return out, nil
}

// update applies fn to the file's sessions under the lock and writes them
// back, dropping dead ones. Caller holds s.mu. A write, once started, is
// not abandoned because its client went away (a sign-out or revocation
// must happen whole): it runs on ctx without its cancellation, bounded by
// the store's own timeouts.
func (s *SessionStore) update(ctx context.Context, p SessionPolicy, fn func(map[string]Session)) error {
	now := s.now()
	err := s.docs.Update(context.WithoutCancel(ctx), SessionsFile, func(old []byte) ([]byte, error) {
		m, err := decodeSessions(old, s.docs.Where(SessionsFile))
		if err != nil {
			return nil, err
		}
		for id, seen := range s.touched {
			if cur, ok := m[id]; ok && seen.After(cur.LastSeen) {
				cur.LastSeen = seen
				m[id] = cur
			}
		}
		fn(m)
		f := sessionsFile{Version: 1}
		for _, se := range m {
			if se.alive(p, now) {
				f.Sessions = append(f.Sessions, se)
			}
		}
		sort.Slice(f.Sessions, func(i, j int) bool { return f.Sessions[i].CreatedAt.Before(f.Sessions[j].CreatedAt) })
		if len(f.Sessions) > maxSessions {
			f.Sessions = f.Sessions[len(f.Sessions)-maxSessions:]
		}
		return state.EncodeJSON(f)
	})
	s.file.Forget()
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	clear(s.touched)
	s.lastPersist = now
	return nil
}

// Create starts a session for who and returns its token (shown to the
// client once).
func (s *SessionStore) Create(ctx context.Context, p SessionPolicy, who Opened) (token string, expires time.Time, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("sessions: %w", err)
	}
	token = SessionTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	life := p.Absolute
	if who.MaxAge > 0 && who.MaxAge < life {
		life = who.MaxAge
	}
	se := Session{ID: SessionID(token), CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(life), Opened: who}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.update(ctx, p, func(m map[string]Session) { m[se.ID] = se }); err != nil {
		return "", time.Time{}, err
	}
	return token, se.ExpiresAt, nil
}

// Check validates a session token for origin and records the use. A
// session of another origin is no session there.
func (s *SessionStore) Check(ctx context.Context, token string, p SessionPolicy, origin string) (Session, error) {
	id := SessionID(token)
	// Another process (or the CLI, or a replica) may have signed in or
	// out since: the cache knows (see store.Cached).
	m, err := s.file.Get(ctx)
	if err != nil {
		return Session{}, fmt.Errorf("sessions: %w", err)
	}
	se, ok := m[id]
	if !ok || se.origin() != origin {
		return Session{}, ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seen, ok := s.touched[id]; ok && seen.After(se.LastSeen) {
		se.LastSeen = seen
	}
	now := s.now()
	if !se.alive(p, now) {
		return Session{}, ErrNoSession
	}
	se.LastSeen = now
	s.touched[id] = now
	if now.Sub(s.lastPersist) > touchEvery {
		_ = s.update(ctx, p, func(map[string]Session) {})
	}
	return se, nil
}

// List returns the live sessions, oldest first.
func (s *SessionStore) List(ctx context.Context, p SessionPolicy) ([]Session, error) {
	m, err := s.file.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := []Session{}
	for id, se := range m {
		if seen, ok := s.touched[id]; ok && seen.After(se.LastSeen) {
			se.LastSeen = seen
		}
		if se.alive(p, now) {
			out = append(out, se)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Revoke ends the session with this token.
func (s *SessionStore) Revoke(ctx context.Context, token string, p SessionPolicy) error {
	return s.RevokeID(ctx, SessionID(token), p)
}

// RevokeID ends the session with this stored id.
func (s *SessionStore) RevokeID(ctx context.Context, id string, p SessionPolicy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(ctx, p, func(m map[string]Session) { delete(m, id) })
}

// RevokeAll ends every session.
func (s *SessionStore) RevokeAll(ctx context.Context, p SessionPolicy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(ctx, p, func(m map[string]Session) { clear(m) })
}
