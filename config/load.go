package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caarlos0/env/v11"
)

// EnvConfigPath names the environment variable that selects the config file.
const EnvConfigPath = "GATEWAY_CONFIG_PATH"

// KeyError is a problem with one configuration key.
type KeyError struct {
	Path string // dotted key path, e.g. "gateway.trustedProxies[1]"
	Msg  string
	Err  error
}

func (e *KeyError) Error() string {
	if e.Path == "" {
		return "config: " + e.Msg
	}
	return "config: " + e.Path + ": " + e.Msg
}

func (e *KeyError) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by every validation error so callers can tell a bad
// configuration from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")

func keyErr(path, format string, args ...any) error {
	return &KeyError{Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// Overrides are command-line flag values; zero values mean "not given".
type Overrides struct {
	Port     int
	Bind     string
	Upstream string
	// AdminListen is gateway.admin.listen.
	AdminListen string
	// PublicURL is gateway.publicUrl.
	PublicURL string
}

// Options say where to load from and what the environment holds.
type Options struct {
	// Path is the config file. Empty means embedded defaults.
	Path string
	// Explicit says Path was named by a flag or GATEWAY_CONFIG_PATH, so a
	// missing file is an error rather than "use the defaults".
	Explicit bool
	// Env is the process environment used for ${VAR} and overrides.
	Env map[string]string
	// Flags override environment and file.
	Flags Overrides
}

// ResolvePath picks the config file: the flag, else GATEWAY_CONFIG_PATH,
// else <stateDir>/gateway.json, or <stateDir>/gateway.yaml when only that
// exists. explicit is false only for the last two. OpenClaw's own
// openclaw.json is never read as the gateway's configuration.
func ResolvePath(flagValue string, getenv func(string) string, stateDir string) (path string, explicit bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if v := getenv(EnvConfigPath); v != "" {
		return v, true
	}
	jsonPath := filepath.Join(stateDir, "gateway.json")
	if _, err := os.Stat(jsonPath); err != nil {
		yamlPath := filepath.Join(stateDir, "gateway.yaml")
		if _, err := os.Stat(yamlPath); err == nil {
			return yamlPath, false
		}
	}
	return jsonPath, false
}

// EnvMap turns os.Environ-style pairs into a map.
func EnvMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Load reads, substitutes, checks and validates the configuration. Every
// problem found is returned (joined), each naming its key path.
func Load(opts Options) (*Config, error) {
	cfg, err := LoadUnvalidated(opts)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadUnvalidated is Load without the final Validate, for the audit, which
// must inspect configurations the gateway would refuse to run.
func LoadUnvalidated(opts Options) (*Config, error) {
	cfg := Default()
	cfg.Source = Source{Path: opts.Path, Format: "defaults", Substituted: map[string]bool{}}
	var data []byte
	if opts.Path != "" {
		var err error
		data, err = os.ReadFile(opts.Path)
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist) && !opts.Explicit:
			cfg.Source.Path = ""
			data = nil
		default:
			return nil, fmt.Errorf("config: read %s: %w", opts.Path, err)
		}
	}
	if data != nil {
		format, err := formatOf(opts.Path)
		if err != nil {
			return nil, err
		}
		cfg.Source.Format = format
		cfg.Source.Text = data
		if err := decodeFile(data, format, opts.Env, cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", opts.Path, err)
		}
	}
	if err := applyEnv(cfg, opts.Env); err != nil {
		return nil, err
	}
	applyFlags(cfg, opts.Flags)
	return cfg, nil
}

func formatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".json5":
		return "json5", nil
	case ".yaml", ".yml":
		return "yaml", nil
	}
	return "", fmt.Errorf("config: %s: unknown extension (want .json, .json5, .yaml or .yml): %w", path, ErrInvalid)
}

// Parse parses a config document of the given format into a generic tree.
// A repeated key is an error.
func Parse(data []byte, format string) (map[string]any, error) {
	return parse(data, format, false)
}

// ParseOpenClaw parses OpenClaw's JSON5 configuration as OpenClaw reads
// it: a repeated key's last value wins.
func ParseOpenClaw(data []byte) (map[string]any, error) {
	return parse(data, "json5", true)
}

// parse never panics on hostile input: a parser panic is turned into an
// error.
func parse(data []byte, format string, lastWins bool) (tree map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			tree, err = nil, fmt.Errorf("config: parse %s: malformed document: %w", format, ErrInvalid)
		}
	}()
	var v any
	switch format {
	case "json5":
		v, err = parseJSON5(data, lastWins)
	case "yaml":
		v, err = parseYAML(data)
	default:
		return nil, fmt.Errorf("config: unknown format %q: %w", format, ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	if tooLarge(v) {
		return nil, fmt.Errorf("config: parse %s: the document expands to more than %d values (YAML aliases?): %w", format, maxValues, ErrInvalid)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("config: top level must be an object, got %s: %w", kindName(v), ErrInvalid)
	}
	return m, nil
}

func decodeFile(data []byte, format string, environ map[string]string, cfg *Config) error {
	tree, err := Parse(data, format)
	if err != nil {
		return err
	}
	cfg.Source.Tree = tree
	var errs []error
	sub, serrs := substitute("", tree, environ, cfg.Source.Substituted)
	errs = append(errs, serrs...)
	checked, cerrs := conform("", sub, typeOfConfig)
	errs = append(errs, cerrs...)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The tree now matches Config's shape exactly, so this cannot fail on
	// types; decoding over Default() keeps defaults for absent keys.
	raw, err := json.Marshal(checked)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return fmt.Errorf("config: %v: %w", err, ErrInvalid)
	}
	return nil
}

// envOverrides are the documented environment overrides; they beat the file.
type envOverrides struct {
	Token    string `env:"GATEWAY_TOKEN"`
	Password string `env:"GATEWAY_PASSWORD"`
	Port     *int   `env:"GATEWAY_PORT"`
	Bind     string `env:"GATEWAY_BIND"`
	RedisURL string `env:"GATEWAY_REDIS_URL"`
}

func applyEnv(cfg *Config, environ map[string]string) error {
	if cfg.Gateway.Auth.Token != "" {
		cfg.Source.TokenSource = "file"
	}
	if cfg.Gateway.Auth.Password != "" || cfg.Gateway.Auth.PasswordHash != "" {
		cfg.Source.PasswordSource = "file"
	}
	var o envOverrides
	if err := env.ParseWithOptions(&o, env.Options{Environment: environ}); err != nil {
		return fmt.Errorf("config: environment: %v: %w", err, ErrInvalid)
	}
	if o.Token != "" {
		cfg.Gateway.Auth.Token = o.Token
		cfg.Source.TokenSource = "env"
	}
	if o.Password != "" {
		// The environment wins over the file's password and its hash
		// alike, so rotating the password through the environment works.
		cfg.Gateway.Auth.Password = o.Password
		cfg.Gateway.Auth.PasswordHash = ""
		cfg.Source.PasswordSource = "env"
	}
	if o.Port != nil {
		cfg.Gateway.Port = *o.Port
	}
	if o.Bind != "" {
		cfg.Gateway.Bind = o.Bind
	}
	if o.RedisURL != "" {
		// The URL (and the password in it) from the environment; the
		// backend stays what the file says, so setting the variable
		// alone never moves a gateway's state.
		cfg.Gateway.Store.URL = o.RedisURL
	}
	return nil
}

func applyFlags(cfg *Config, f Overrides) {
	if f.Port != 0 {
		cfg.Gateway.Port = f.Port
	}
	if f.Bind != "" {
		cfg.Gateway.Bind = f.Bind
	}
	if f.Upstream != "" {
		cfg.Gateway.Upstream = f.Upstream
	}
	if f.AdminListen != "" {
		cfg.Gateway.Admin.Listen = f.AdminListen
	}
	if f.PublicURL != "" {
		cfg.Gateway.PublicURL = f.PublicURL
	}
}
