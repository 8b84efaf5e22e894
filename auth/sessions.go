package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"gateway/state"
)

// SessionsFile is where password sessions are kept, relative to the state
// dir. Only SHA-256 hashes of session tokens are stored: a copy of the file
// does not let anyone log in.
const SessionsFile = "credentials/gateway-sessions.json"

// ErrNoSession means the session token is unknown, expired or revoked.
var ErrNoSession = errors.New("no such session")

// Session is one password login.
type Session struct {
	ID        string    `json:"id"` // hex SHA-256 of the token
	CreatedAt time.Time `json:"createdAt"`
	LastSeen  time.Time `json:"lastSeen"`
	ExpiresAt time.Time `json:"expiresAt"` // absolute expiry
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

// SessionStore keeps password sessions in memory and in the state dir, so
// they survive a restart. Writes merge with the file under the state lock,
// so two processes sharing a state dir do not lose each other's sessions.
type SessionStore struct {
	mu          sync.Mutex
	path        string
	now         func() time.Time
	idle, abs   time.Duration
	byID        map[string]Session
	modTime     time.Time
	lastPersist time.Time
}

// NewSessionStore opens the store at <stateDir>/credentials/gateway-sessions.json.
func NewSessionStore(stateDir string, idle, absolute time.Duration, now func() time.Time) (*SessionStore, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := state.EnsureSubdir(stateDir, "credentials"); err != nil {
		return nil, err
	}
	s := &SessionStore{path: stateDir + "/" + SessionsFile, now: now, idle: idle, abs: absolute, byID: map[string]Session{}}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// SetTimeouts changes the idle and absolute lifetimes (config reload).
func (s *SessionStore) SetTimeouts(idle, absolute time.Duration) {
	s.mu.Lock()
	s.idle, s.abs = idle, absolute
	s.mu.Unlock()
}

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func decodeSessions(data []byte, path string) (map[string]Session, error) {
	out := map[string]Session{}
	f, err := state.DecodeJSON[sessionsFile](data, path)
	if err != nil {
		return nil, err
	}
	for _, se := range f.Sessions {
		out[se.ID] = se
	}
	return out, nil
}

func (s *SessionStore) reload() error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	if fi.ModTime().Equal(s.modTime) {
		return nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	m, err := decodeSessions(data, s.path)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	s.byID, s.modTime = m, fi.ModTime()
	return nil
}

// update applies fn to the file's sessions under the lock, writes them back
// and adopts the result in memory. Caller holds s.mu.
func (s *SessionStore) update(fn func(map[string]Session)) error {
	now := s.now()
	err := state.Update(context.Background(), s.path, func(old []byte) ([]byte, error) {
		m, err := decodeSessions(old, s.path)
		if err != nil {
			return nil, err
		}
		// Keep in-memory idle updates not yet written.
		for id, se := range s.byID {
			if cur, ok := m[id]; ok && se.LastSeen.After(cur.LastSeen) {
				cur.LastSeen = se.LastSeen
				m[id] = cur
			}
		}
		fn(m)
		f := sessionsFile{Version: 1}
		for _, se := range m {
			if s.alive(se, now) {
				f.Sessions = append(f.Sessions, se)
			}
		}
		for len(f.Sessions) > maxSessions {
			oldest := 0
			for i, se := range f.Sessions {
				if se.CreatedAt.Before(f.Sessions[oldest].CreatedAt) {
					oldest = i
				}
			}
			f.Sessions = append(f.Sessions[:oldest], f.Sessions[oldest+1:]...)
		}
		s.byID = map[string]Session{}
		for _, se := range f.Sessions {
			s.byID[se.ID] = se
		}
		return state.EncodeJSON(f)
	})
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.modTime = fi.ModTime()
	}
	s.lastPersist = now
	return nil
}

func (s *SessionStore) alive(se Session, now time.Time) bool {
	return now.Before(se.ExpiresAt) && now.Sub(se.LastSeen) < s.idle
}

// Create starts a session and returns its token (shown to the client once).
func (s *SessionStore) Create() (token string, expires time.Time, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("sessions: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	se := Session{ID: sessionID(token), CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.abs)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.update(func(m map[string]Session) { m[se.ID] = se }); err != nil {
		return "", time.Time{}, err
	}
	return token, se.ExpiresAt, nil
}

// Check validates a session token and records the use.
func (s *SessionStore) Check(token string) (Session, error) {
	id := sessionID(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another process (or the CLI) may have logged in or revoked since;
	// the stat is cheap and the file is re-read only when it changed.
	if err := s.reload(); err != nil {
		return Session{}, err
	}
	se, ok := s.byID[id]
	if !ok {
		return Session{}, ErrNoSession
	}
	now := s.now()
	if !s.alive(se, now) {
		delete(s.byID, id)
		return Session{}, ErrNoSession
	}
	se.LastSeen = now
	s.byID[id] = se
	if now.Sub(s.lastPersist) > touchEvery {
		_ = s.update(func(map[string]Session) {})
	}
	return se, nil
}

// Revoke ends the session with this token.
func (s *SessionStore) Revoke(token string) error {
	id := sessionID(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(func(m map[string]Session) { delete(m, id) })
}
