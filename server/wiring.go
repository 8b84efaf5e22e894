package server

import (
	"gateway/auth"
	"gateway/config"
	"gateway/proxy"
	"gateway/trust"
)

// The configuration reaches each package as its own small options value,
// built here from the validated config; no package below server reads
// *config.Config to decide how to serve.

func trustOptions(cfg *config.Config) trust.Options {
	return trust.Options{
		TrustedProxies:      cfg.Typed.TrustedProxies,
		AllowRealIPFallback: cfg.Gateway.AllowRealIPFallback,
		PreferForwarded:     cfg.Gateway.PreferForwarded,
		AllowedHosts:        allowedHosts(cfg),
		AllowAnyHost:        cfg.Typed.AllowAnyHost,
		OwnRoots:            ownRoots,
		LocalUIDs:           cfg.Typed.LocalUIDs,
	}
}

// allowedHosts are the names the main listener serves: the agent's, the
// admin host, and the apps forward auth protects.
func allowedHosts(cfg *config.Config) []string {
	out := append([]string(nil), cfg.Typed.AllowedHosts...)
	if cfg.Typed.AdminHost != "" {
		out = append(out, cfg.Typed.AdminHost)
	}
	return append(out, cfg.Typed.ForwardNames...)
}

// ownRoots are the first path segments of the gateway's own routes (see
// routes): a request-target naming one of them in another spelling is
// refused before routing, never proxied to the agent.
var ownRoots = []string{"admin", "auth", "healthz", "readyz", "metrics", "channels"}

func authOptions(cfg *config.Config, token string, st *auth.Stores) auth.Options {
	a := cfg.Gateway.Auth
	return auth.Options{
		Mode:         a.Mode,
		Token:        token,
		Password:     a.Password,
		PasswordHash: a.PasswordHash,
		Lockout:      LockoutPolicy(cfg),
		Sessions:     auth.SessionPolicy{Idle: cfg.Typed.SessionIdle, Absolute: cfg.Typed.SessionAbsolute},
		TrustedProxy: auth.TrustedProxyOptions{
			UserHeader:      a.TrustedProxy.UserHeader,
			RequiredHeaders: a.TrustedProxy.RequiredHeaders,
			AllowUsers:      a.TrustedProxy.AllowUsers,
			AllowLoopback:   a.TrustedProxy.AllowLoopback,
			GroupsHeader:    a.TrustedProxy.GroupsHeader,
		},
		People:             cfg.Typed.People,
		CookieDomain:       cfg.Typed.CookieDomain,
		OIDC:               cfg.Typed.OIDC,
		Assertion:          cfg.Typed.Assertion,
		HaveTrustedProxies: len(cfg.Typed.TrustedProxies) > 0,
		Device: auth.DeviceOptions{
			Enabled:          cfg.Typed.DeviceEnabled,
			AutoApproveLocal: cfg.Typed.AutoApproveLocal,
			TokenTTL:         cfg.Typed.DeviceTokenTTL,
		},
		Stores: st,
	}
}

// LockoutPolicy is the failure rule of cfg.
func LockoutPolicy(cfg *config.Config) auth.LockoutPolicy {
	max := cfg.Gateway.Auth.RateLimit.MaxAttempts
	if !cfg.Typed.RateLimitOn {
		max = 0 // the policy's "off"
	}
	return auth.LockoutPolicy{MaxAttempts: max, Window: cfg.Typed.RateWindow, Lockout: cfg.Typed.Lockout}
}

func outgoing(cfg *config.Config) *proxy.Outgoing {
	return &proxy.Outgoing{
		Identity:     proxy.IdentityHeaders{User: cfg.Typed.UpstreamUserHeader, Method: cfg.Typed.UpstreamMethodHeader},
		PreserveHost: cfg.Typed.PreserveHost,
		// Removed in every mode: a header a proxy in front may believe is
		// never passed on from a client.
		UserHeader:     cfg.Gateway.Auth.TrustedProxy.UserHeader,
		StripHeaders:   methodHeaders(cfg),
		SameHostClient: cfg.Typed.SameHostClient,
	}
}

// methodHeaders are the request headers the configured methods read besides
// the user header: never passed on to the upstream from a client.
func methodHeaders(cfg *config.Config) []string {
	var h []string
	if g := cfg.Gateway.Auth.TrustedProxy.GroupsHeader; g != "" {
		h = append(h, g)
	}
	if a := cfg.Typed.Assertion; a != nil {
		h = append(h, a.Header)
	}
	return h
}
