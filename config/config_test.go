package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "test-token-0123456789abcdef0123"

func TestLoadFormats(t *testing.T) {
	for _, name := range []string{"full.json5", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(Options{Path: filepath.Join("testdata", name), Explicit: true,
				Env: map[string]string{"GATEWAY_TOKEN": testToken}})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Gateway.Auth.Token != testToken {
				t.Errorf("token = %q, want substituted value", cfg.Gateway.Auth.Token)
			}
			if !cfg.Source.Substituted["gateway.auth.token"] {
				t.Errorf("substitution not recorded: %v", cfg.Source.Substituted)
			}
			want := []netip.Prefix{
				netip.MustParsePrefix("127.0.0.1/32"),
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.168.1.0/24"),
			}
			if len(cfg.Typed.TrustedProxies) != len(want) {
				t.Fatalf("trusted = %v, want %v", cfg.Typed.TrustedProxies, want)
			}
			for i := range want {
				if cfg.Typed.TrustedProxies[i] != want[i] {
					t.Errorf("trusted[%d] = %v, want %v", i, cfg.Typed.TrustedProxies[i], want[i])
				}
			}
			if cfg.Gateway.Auth.RateLimit.MaxAttempts != 5 || cfg.Gateway.Auth.RateLimit.WindowMs != 60000 {
				t.Errorf("rateLimit = %+v", cfg.Gateway.Auth.RateLimit)
			}
			if cfg.Typed.Upstream == nil || cfg.Typed.Upstream.Host != "127.0.0.1:18790" {
				t.Errorf("upstream = %v", cfg.Typed.Upstream)
			}
			if cfg.Typed.ListenAddr != "127.0.0.1:18780" || cfg.Typed.Exposed {
				t.Errorf("listen = %q exposed=%v", cfg.Typed.ListenAddr, cfg.Typed.Exposed)
			}
			if cfg.Source.TokenSource != "env" { // the override variable is set too
				t.Errorf("token source = %q, want env", cfg.Source.TokenSource)
			}
		})
	}
}

func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		text string
		env  map[string]string
		// wantAll must all appear in the error text.
		wantAll []string
	}{
		{"unknown key in gateway", "c.json5", `{gateway: {trustedProxy: ["127.0.0.1"]}}`, nil,
			[]string{"gateway.trustedProxy: unknown key (did you mean gateway.trustedProxies?)"}},
		{"case typo suggests", "c.json5", `{gateway: {TrustedProxies: ["127.0.0.1"]}}`, nil,
			[]string{`gateway.TrustedProxies: unknown key (did you mean gateway.trustedProxies?)`}},
		{"invalid CIDR", "c.yaml", "gateway:\n  trustedProxies: [127.0.0.1, 10.0.0.0/33, nonsense]\n", nil,
			[]string{"gateway.trustedProxies[1]", "gateway.trustedProxies[2]"}},
		{"missing var", "c.json5", `{gateway: {auth: {token: "${NOPE_TOKEN}"}}}`, nil,
			[]string{"gateway.auth.token", "NOPE_TOKEN is not set"}},
		{"empty var", "c.json5", `{gateway: {auth: {password: "${PW}", mode: "password"}}}`, map[string]string{"PW": ""},
			[]string{"gateway.auth.password", "PW is not set or empty"}},
		{"unterminated var", "c.json5", `{gateway: {upstream: "${X"}}`, nil, []string{"gateway.upstream", "unterminated"}},
		{"bad bind", "c.json5", `{gateway: {bind: "everywhere"}}`, nil, []string{"gateway.bind"}},
		{"none on lan", "c.json5", `{gateway: {bind: "lan", auth: {mode: "none"}}}`, nil, []string{"gateway.auth.mode", "loopback"}},
		{"unknown auth mode", "c.json5", `{gateway: {auth: {mode: "trust-me"}}}`, nil, []string{"gateway.auth.mode"}},
		{"port type", "c.json5", `{gateway: {port: "high"}}`, nil, []string{"gateway.port", "expected a number"}},
		{"port range", "c.json5", `{gateway: {port: 70000}}`, nil, []string{"gateway.port", "65535"}},
		{"unquoted phone number", "c.yaml", "channels:\n  whatsapp:\n    allowFrom: [15551234567]\n", nil,
			[]string{"channels.whatsapp.allowFrom[0]", "quote"}},
		{"upstream scheme", "c.json5", `{gateway: {upstream: "ftp://x"}}`, nil, []string{"gateway.upstream"}},
		{"password mode without password", "c.json5", `{gateway: {auth: {mode: "password"}}}`, nil, []string{"gateway.auth.password"}},
		{"top level not object", "c.json5", `[1,2]`, nil, []string{"top level"}},
		{"syntax", "c.json5", `{gateway: {`, nil, []string{"parse json5"}},
		{"yaml syntax", "c.yaml", "gateway: [\n", nil, []string{"parse yaml"}},
		{"bad extension", "c.toml", ``, nil, []string{"unknown extension"}},
		{"channel name", "c.json5", `{channels: {"../x": {}}}`, nil, []string{"channel names"}},
		{"origin", "c.json5", `{gateway: {allowedOrigins: ["example.com"]}}`, nil, []string{"gateway.allowedOrigins[0]"}},
		{"redis without url", "c.json5", `{gateway: {store: {backend: "redis"}}}`, nil, []string{"gateway.store.url", "required"}},
		{"unknown store", "c.json5", `{gateway: {store: {backend: "etcd"}}}`, nil, []string{"gateway.store.backend"}},
		{"redis url scheme, password never quoted", "c.json5", `{gateway: {store: {backend: "redis", url: "http://:hunter2@x:6379"}}}`, nil, []string{"gateway.store.url", "redis://"}},
		{"redis url on the file backend", "c.json5", `{gateway: {store: {url: "redis://127.0.0.1:6379"}}}`, nil, []string{"gateway.store.url", "backend: redis"}},
		{"redis url from env on the file backend", "c.json5", `{}`, map[string]string{"GATEWAY_REDIS_URL": "redis://127.0.0.1:6379"}, []string{"GATEWAY_REDIS_URL"}},
		{"missing redis password variable", "c.json5", `{gateway: {store: {backend: "redis", url: "redis://:${REDIS_PW}@127.0.0.1:6379"}}}`, nil, []string{"REDIS_PW"}},
		{"empty key prefix", "c.json5", `{gateway: {store: {backend: "redis", url: "redis://127.0.0.1:6379", keyPrefix: ""}}}`, nil, []string{"gateway.store.keyPrefix"}},
		{"maxAttempts 0 is refused, with the way to turn the lockout off", "c.json5", `{gateway: {auth: {rateLimit: {maxAttempts: 0}}}}`, nil, []string{"gateway.auth.rateLimit.maxAttempts", "enabled: false"}},
		{"trusted-proxy without userHeader", "c.json5", `{gateway: {trustedProxies: ["10.0.0.5"], auth: {mode: "trusted-proxy"}}}`, nil, []string{"gateway.auth.trustedProxy.userHeader", "required"}},
		{"SecretRef with a missing variable", "c.json5", `{gateway: {auth: {token: {source: "env", id: "NOPE_TOKEN"}}}}`, nil, []string{"gateway.auth.token", "NOPE_TOKEN"}},
		{"SecretRef from a file is not read", "c.json5", `{gateway: {auth: {token: {source: "file", provider: "f", id: "/etc/x"}}}}`, nil, []string{"gateway.auth.token", "not supported"}},
		{"bad duration", "c.json5", `{gateway: {auth: {device: {tokenTtl: "soon"}}}}`, nil, []string{"gateway.auth.device.tokenTtl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.file, tt.text)
			_, err := Load(Options{Path: p, Explicit: true, Env: tt.env})
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tt.wantAll {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadDefaultsAndMissingFile(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load(Options{Path: filepath.Join(dir, "gateway.json"), Explicit: false})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.Format != "defaults" || cfg.Gateway.Auth.Mode != ModeToken || cfg.Typed.ListenAddr != "127.0.0.1:18780" {
		t.Errorf("defaults = %+v %+v", cfg.Source, cfg.Typed)
	}
	if _, err := Load(Options{Path: filepath.Join(dir, "nope.json"), Explicit: true}); err == nil {
		t.Error("explicit missing config: want error")
	}
	unreadable := filepath.Join(dir, "dir.json")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Path: unreadable, Explicit: true}); err == nil {
		t.Error("unreadable config: want error")
	}
}

func TestPrecedence(t *testing.T) {
	p := writeConfig(t, "c.yaml", "gateway:\n  port: 1000\n  bind: loopback\n  auth:\n    token: from-file-aaaaaaaaaaaaaaaaaaaa\n")
	env := map[string]string{"GATEWAY_PORT": "2000", "GATEWAY_TOKEN": "from-env-bbbbbbbbbbbbbbbbbbbbbb", "GATEWAY_BIND": "lan"}
	cfg, err := Load(Options{Path: p, Explicit: true, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Port != 2000 || cfg.Gateway.Bind != "lan" || cfg.Gateway.Auth.Token != env["GATEWAY_TOKEN"] || cfg.Source.TokenSource != "env" {
		t.Errorf("env did not beat file: %+v source=%q", cfg.Gateway, cfg.Source.TokenSource)
	}
	cfg, err = Load(Options{Path: p, Explicit: true, Env: env, Flags: Overrides{Port: 3000, Bind: "loopback"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Port != 3000 || cfg.Gateway.Bind != "loopback" {
		t.Errorf("flags did not beat env: %+v", cfg.Gateway)
	}
	if _, err := Load(Options{Path: p, Explicit: true, Env: map[string]string{"GATEWAY_PORT": "abc"}}); err == nil {
		t.Error("bad GATEWAY_PORT: want error")
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B_2": "y"}
	tests := []struct {
		in, want string
		used     bool
		err      bool
	}{
		{"plain", "plain", false, false},
		{"${A}", "x", true, false},
		{"pre-${A}-${B_2}-post", "pre-x-y-post", true, false},
		{"$${A}", "${A}", false, false},
		{"$A and $", "$A and $", false, false},
		{"${}", "", false, true},
		{"${1A}", "", false, true},
		{"${A", "", false, true},
		{"${MISSING}", "", false, true},
	}
	for _, tt := range tests {
		got, used, err := expand(tt.in, env)
		if (err != nil) != tt.err || got != tt.want || used != tt.used {
			t.Errorf("expand(%q) = %q, %v, %v; want %q, %v, err=%v", tt.in, got, used, err, tt.want, tt.used, tt.err)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"127.0.0.1", "127.0.0.1/32", false},
		{"::1", "::1/128", false},
		{"10.1.2.3/8", "10.0.0.0/8", false},
		{"::ffff:10.0.0.1", "10.0.0.1/32", false},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"fe80::1%eth0", "fe80::1/128", false},
		{"::ffff:0:0/64", "", true},
		{"10.0.0.0/33", "", true},
		{"example.com", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ParsePrefix(tt.in)
		if (err != nil) != tt.err || (!tt.err && got.String() != tt.want) {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %q err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzParse checks that no document, in either format, panics the loader or
// yields a configuration that skipped validation.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.json5", "testdata/full.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, name[len(name)-4:] == "yaml")
	}
	f.Add([]byte(`{gateway: {port: 1e400}}`), false)
	f.Add([]byte("gateway: &a [*a]\n"), true)
	f.Add([]byte(`{"gateway": {"auth": {"mode": "none"}, "bind": "lan"}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, yamlFormat bool) {
		format := "json5"
		if yamlFormat {
			format = "yaml"
		}
		cfg := Default()
		cfg.Source.Substituted = map[string]bool{}
		if err := decodeFile(data, format, map[string]string{"GATEWAY_TOKEN": testToken}, cfg); err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		if cfg.Gateway.Auth.Mode == ModeNone && cfg.Gateway.Bind != BindLoopback {
			t.Fatalf("validated none mode on bind %q", cfg.Gateway.Bind)
		}
		if cfg.Typed.ListenAddr == "" {
			t.Fatal("validated config without a listen address")
		}
	})
}

func TestRedisStoreConfig(t *testing.T) {
	p := writeConfig(t, "c.json5", `{gateway: {store: {backend: "redis", url: "redis://:${REDIS_PW}@10.0.0.7:6379/2"}}}`)
	cfg, err := Load(Options{Path: p, Explicit: true, Env: map[string]string{"REDIS_PW": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Store.URL != "redis://:s3cret@10.0.0.7:6379/2" || cfg.Gateway.Store.KeyPrefix != "gateway:" {
		t.Fatalf("store = %+v", cfg.Gateway.Store)
	}
	// GATEWAY_REDIS_URL beats the file.
	cfg, err = Load(Options{Path: p, Explicit: true, Env: map[string]string{"REDIS_PW": "x", "GATEWAY_REDIS_URL": "rediss://:pw@redis.internal:6380/0"}})
	if err != nil || cfg.Gateway.Store.URL != "rediss://:pw@redis.internal:6380/0" {
		t.Fatalf("env override: %v %+v", err, cfg.Gateway.Store)
	}
	// A bad URL is refused without quoting it.
	p = writeConfig(t, "c.json5", `{gateway: {store: {backend: "redis", url: "http://:hunter2@x:6379"}}}`)
	if _, err := Load(Options{Path: p, Explicit: true}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad url: %v", err)
	}
}

func TestSecretRefWhereVarIsAccepted(t *testing.T) {
	env := map[string]string{"GW_TOKEN": strings.Repeat("t", 40), "GW_PW": "a long enough passphrase here", "REDIS_PW": "r"}
	p := writeConfig(t, "c.yaml", `gateway:
  auth:
    mode: password
    token: {source: env, id: GW_TOKEN}
    password: {source: env, provider: default, id: GW_PW}
  store:
    backend: redis
    url: redis://127.0.0.1:6379/0
`)
	cfg, err := Load(Options{Path: p, Explicit: true, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Auth.Token != env["GW_TOKEN"] || cfg.Gateway.Auth.Password != env["GW_PW"] {
		t.Fatalf("SecretRefs not resolved: %+v", cfg.Gateway.Auth)
	}
	if !cfg.Source.Substituted["gateway.auth.token"] || !cfg.Source.Substituted["gateway.auth.password"] {
		t.Fatalf("SecretRefs not marked substituted: %v", cfg.Source.Substituted)
	}
}

func TestRateLimitCanBeTurnedOffExplicitly(t *testing.T) {
	p := writeConfig(t, "c.json5", `{gateway: {auth: {rateLimit: {enabled: false}}}}`)
	cfg, err := Load(Options{Path: p, Explicit: true})
	if err != nil || cfg.Typed.RateLimitOn {
		t.Fatalf("enabled false: %v on=%v", err, cfg != nil && cfg.Typed.RateLimitOn)
	}
	cfg, err = Load(Options{Path: writeConfig(t, "c.json5", `{}`), Explicit: true})
	if err != nil || !cfg.Typed.RateLimitOn || cfg.Gateway.Auth.RateLimit.MaxAttempts != 10 {
		t.Fatalf("default: %v %+v", err, cfg.Gateway.Auth.RateLimit)
	}
}
