package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWKS fetching limits (SPEC: assertions).
const (
	jwksMaxBytes     = 1 << 20
	jwksRefreshEvery = time.Minute
	jwksTimeout      = 5 * time.Second
)

// errKeysUnavailable is a token whose key is unknown while the key set
// cannot be fetched now (down, or refreshed less than a minute ago): a
// 503, never a counted failure.
var errKeysUnavailable = errors.New("signing key unknown and the key set cannot be refreshed now")

// errUnknownKey is a token naming a key the fresh key set does not have:
// a wrong credential.
var errUnknownKey = errors.New("signing key not in the key set")

// keySet is a JWKS fetched from one URL and cached. A token with an
// unknown kid refreshes it, at most once a minute and one fetch at a time;
// the token's own jku, x5u and jwk headers are never followed.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	keys     map[string]any // kid -> *rsa.PublicKey or *ecdsa.PublicKey
	fetched  time.Time      // last fetch attempt
	fetching chan struct{}  // closed when the running fetch ends
	lastErr  error
}

func newKeySet(rawURL string, client *http.Client, now func() time.Time) *keySet {
	// Redirects stay on the key set's own host: a redirect elsewhere
	// could hand the gateway an attacker's keys.
	c := *client
	host := ""
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Host
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host || len(via) > 3 {
			return errors.New("jwks: redirect to another host refused")
		}
		return nil
	}
	if c.Timeout == 0 || c.Timeout > jwksTimeout {
		c.Timeout = jwksTimeout
	}
	return &keySet{url: rawURL, client: &c, now: now, keys: map[string]any{}}
}

// key returns the public key named kid. An unknown kid refreshes the set,
// unless it was fetched less than a minute ago: then the token waits (503)
// rather than being called wrong, since the set may be about to list it.
// Only a set fetched for this very request (or while it waited) that
// still lacks the kid makes the token wrong.
func (k *keySet) key(ctx context.Context, kid string) (any, error) {
	fresh := false // a fetch completed during this call
	for {
		k.mu.Lock()
		if key, ok := k.keys[kid]; ok {
			k.mu.Unlock()
			return key, nil
		}
		if wait := k.fetching; wait != nil {
			// Another request is fetching: wait for it, then look
			// again.
			k.mu.Unlock()
			select {
			case <-wait:
				k.mu.Lock()
				fresh = k.lastErr == nil
				k.mu.Unlock()
				continue
			case <-ctx.Done():
				return nil, errKeysUnavailable
			}
		}
		if fresh {
			k.mu.Unlock()
			return nil, errUnknownKey
		}
		if !k.fetched.IsZero() && k.now().Sub(k.fetched) < jwksRefreshEvery {
			k.mu.Unlock()
			return nil, errKeysUnavailable
		}
		done := make(chan struct{})
		k.fetching, k.fetched = done, k.now()
		k.mu.Unlock()
		keys, err := k.fetch(ctx)
		k.mu.Lock()
		k.fetching, k.lastErr = nil, err
		if err == nil {
			k.keys = keys
		}
		close(done)
		k.mu.Unlock()
		if err != nil {
			return nil, errKeysUnavailable
		}
		fresh = true
	}
}

func (k *keySet) fetch(ctx context.Context) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %d", k.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, errors.New("jwks: key set larger than 1 MiB")
	}
	return parseJWKS(body)
}

// parseJWKS keeps the signature keys the gateway accepts: RSA of 2048 bits
// or more, and EC P-256, each with a kid.
func parseJWKS(body []byte) (map[string]any, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := map[string]any{}
	for _, jk := range set.Keys {
		if jk.KeyID == "" || (jk.Use != "" && jk.Use != "sig") || !jk.IsPublic() {
			continue
		}
		switch pk := jk.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() >= 2048 {
				keys[jk.KeyID] = pk
			}
		case *ecdsa.PublicKey:
			if pk.Curve == elliptic.P256() {
				keys[jk.KeyID] = pk
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: no usable signing key (RSA >= 2048 bits or EC P-256, with a kid)")
	}
	return keys, nil
}
