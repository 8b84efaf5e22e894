package auth

import (
	"context"
	"net/http"
	"time"

	"gateway/cookie"
	"gateway/httperr"
	"gateway/request"
	"gateway/store"
)

// limiter is what every method shares to count failures and to bound
// password hashing.
type limiter struct {
	a *Authenticator
	// Argon2id costs 64 MiB and tens of milliseconds: concurrent
	// verifications are capped so they cannot exhaust memory, and known
	// clients have a slot of their own.
	loginSem chan struct{}
	knownSem chan struct{}
	gate     hashGate
	hashWait time.Duration
	// fingerprint identifies the credential in force for each secret, so
	// a known-client cookie issued under another dies with it.
	fingerprint map[string]string
}

func newLimiter(a *Authenticator, wait time.Duration) *limiter {
	if wait <= 0 {
		wait = DefaultHashWait
	}
	return &limiter{a: a, loginSem: make(chan struct{}, 2), knownSem: make(chan struct{}, 1), hashWait: wait}
}

// reserve claims a credential check for the client. Local requests are
// exempt (the owner at the machine never locks themselves out); nothing
// else is, whatever it claims. Locality costs a lookup of the socket's
// owner, so it is asked only when it changes the answer: when the client
// is locked out (reserve), or its credential was wrong (failed).
func (a *Authenticator) reserve(ctx context.Context, scope string, rec *request.Record) (attempt, error) {
	att, left, err := a.st.Lockouts.Reserve(ctx, a.lockout, scope, rec.Client)
	if err != nil {
		return attempt{}, err // the client went away
	}
	if left > 0 {
		if rec.Local() {
			return attempt{rec: rec}, nil
		}
		return attempt{}, rateLimited(left)
	}
	return attempt{Attempt: att, rec: rec}, nil
}

// attempt is a reserved check of a request's credential.
type attempt struct {
	store.Attempt
	rec *request.Record
}

// Fail records a wrong credential, unless the request is local.
func (t attempt) Fail() bool {
	if t.rec != nil && t.rec.Local() {
		t.Cancel()
		return false
	}
	return t.Attempt.Fail()
}

// failed settles a wrong credential and returns the 401 to send. The
// failure that engages the lockout is still a 401 (OpenClaw's semantics);
// the attempts after it get 429.
func (a *Authenticator) failed(att attempt) error {
	att.Fail()
	return unauthorized(ErrBadCredentials)
}

// knownAttempt reserves a sign-in of a known client in the cookie's own
// bucket. It returns "" (and the caller reserves in the address's bucket)
// when the request carries no valid known-client cookie for scope and the
// credential in force, or when that cookie's bucket is locked.
func (a *Authenticator) knownAttempt(ctx context.Context, r *http.Request, rec *request.Record, scope, fp string) (string, attempt) {
	v := cookie.Only(r, cookie.KnownClient, rec.Proto)
	if v == "" {
		return "", attempt{}
	}
	id, err := a.st.KnownClients.Check(ctx, v, scope, fp)
	if err != nil {
		return "", attempt{}
	}
	att, left, err := a.st.Lockouts.Reserve(ctx, a.lockout, "known:"+scope+":"+id, knownBucket)
	if err != nil || left > 0 {
		return "", attempt{}
	}
	return id, attempt{Attempt: att}
}

// hashSlot waits for the right to hash a password: a known client takes
// the slot kept for known clients; anyone else waits for their network's
// turn (one verification per /24 or /48 at a time) and one of the shared
// slots. A wait longer than HashWait is 503 busy.
func (l *limiter) hashSlot(ctx context.Context, rec *request.Record, known bool) (func(), error) {
	busy := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return httperr.New(http.StatusServiceUnavailable, "busy", "too many sign-ins at once; retry", err)
	}
	deadline := time.NewTimer(l.hashWait)
	defer deadline.Stop()
	if known {
		select {
		case l.knownSem <- struct{}{}:
			return func() { <-l.knownSem }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, busy(errBusy)
		}
	}
	_, network := store.ClientBuckets(rec.Client)
	release, err := l.gate.acquire(ctx, network, l.hashWait)
	if err != nil {
		return nil, busy(err)
	}
	select {
	case l.loginSem <- struct{}{}:
		return func() { <-l.loginSem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-deadline.C:
		release()
		return nil, busy(errBusy)
	}
}
