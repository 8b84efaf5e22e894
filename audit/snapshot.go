package audit

import (
	"net/netip"
	"strconv"

	"gateway/peercred"

	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gateway/config"
	"gateway/openclaw"
)

// Walk bounds: a state dir with a huge tree or a symlink loop must not hang
// the audit (symlinks are never followed in any case).
const (
	maxWalkEntries = 20_000
	maxWalkDepth   = 10
)

// File is one lstat'ed path in the state dir.
type File struct {
	Rel  string // relative to the state dir, slash-separated
	Path string
	Mode fs.FileMode // from lstat
}

// IsSymlink reports whether the entry itself is a symlink.
func (f File) IsSymlink() bool { return f.Mode&fs.ModeSymlink != 0 }

// Snapshot is everything the static checks look at.
type Snapshot struct {
	// Config is nil when the file could not be loaded at all.
	Config *config.Config
	// ConfigErr is why the config did not load or validate.
	ConfigErr error
	// ConfigPath is the config file ("" for embedded defaults).
	ConfigPath string
	// ConfigLstat is the config file's lstat (nil if absent).
	ConfigLstat fs.FileInfo
	// StateDir and its lstat (nil if missing).
	StateDir   string
	StateLstat fs.FileInfo
	// Files are the state dir's entries (bounded walk, no symlink follow).
	Files []File
	// Truncated is true when the walk hit its bounds.
	Truncated bool
	// Errors collects what could not be read.
	Errors []string
	// OpenClaw is OpenClaw's configuration, read only, when one was found;
	// OpenClawErr says why one that exists could not be read.
	OpenClaw    *openclaw.Config
	OpenClawErr error
	// OpenClawEnvToken says OPENCLAW_GATEWAY_TOKEN is set.
	OpenClawEnvToken bool
	// OpenClawMissing is the path looked at when no OpenClaw
	// configuration was found there; OpenClawExplicit says it was named.
	OpenClawMissing  string
	OpenClawExplicit bool
	// UpstreamOwner is the uid owning the socket the upstream listens on,
	// when the upstream is on this host and its owner could be found
	// (UpstreamOwnerKnown); GatewayUID is this process's uid.
	UpstreamOwner      int
	UpstreamOwnerKnown bool
	GatewayUID         int
}

// OpenClawInput says where OpenClaw's configuration is and what the
// environment holds, for the openclaw.* checks.
type OpenClawInput struct {
	// Path is OpenClaw's openclaw.json ("" skips the checks).
	Path string
	// Explicit says Path was named (--openclaw-config): a missing file is
	// then a warning, not a note.
	Explicit bool
	// EnvToken says OPENCLAW_GATEWAY_TOKEN is set.
	EnvToken bool
}

// AddOpenClaw reads OpenClaw's configuration, read only, when it exists.
func (s *Snapshot) AddOpenClaw(in OpenClawInput) *Snapshot {
	if in.Path == "" {
		return s
	}
	oc, err := openclaw.Load(in.Path)
	switch {
	case errors.Is(err, openclaw.ErrNotFound):
		s.OpenClawMissing, s.OpenClawExplicit = in.Path, in.Explicit
	case err != nil:
		s.OpenClawErr = err
	default:
		s.OpenClaw = oc
	}
	s.OpenClawEnvToken = in.EnvToken
	return s
}

// Take builds a snapshot from a config file and a state dir. Load problems
// are recorded, not returned: the audit still reports what it can.
func Take(opts config.Options, stateDir string) *Snapshot {
	s := &Snapshot{ConfigPath: opts.Path, StateDir: stateDir}
	if opts.Path != "" {
		if fi, err := os.Lstat(opts.Path); err == nil {
			s.ConfigLstat = fi
		} else if !errors.Is(err, fs.ErrNotExist) || opts.Explicit {
			s.Errors = append(s.Errors, fmt.Sprintf("config %s: %v", opts.Path, err))
		}
	}
	cfg, err := config.LoadUnvalidated(opts)
	if err != nil {
		s.ConfigErr = err
		s.Errors = append(s.Errors, err.Error())
	} else {
		if verr := cfg.Validate(); verr != nil {
			s.ConfigErr = verr
		}
		s.Config = cfg
		if cfg.Source.Path == "" {
			s.ConfigPath = ""
			s.ConfigLstat = nil
		}
	}
	s.walkState()
	s.findUpstreamOwner()
	return s
}

// findUpstreamOwner looks up who owns the upstream's listening socket, for
// openclaw.same_user: an agent running as the gateway's own user can read
// the gateway's credentials.
func (s *Snapshot) findUpstreamOwner() {
	s.GatewayUID = os.Getuid()
	if s.Config == nil || s.Config.Typed.Upstream == nil {
		return
	}
	u := s.Config.Typed.Upstream
	a, err := netip.ParseAddr(u.Hostname())
	if u.Hostname() == "localhost" {
		a, err = netip.MustParseAddr("127.0.0.1"), nil
	}
	if err != nil || !a.Unmap().IsLoopback() {
		return
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return
	}
	uid, err := peercred.ListenerOwner(netip.AddrPortFrom(a, uint16(p)))
	s.UpstreamOwner, s.UpstreamOwnerKnown = uid, err == nil
}

// FromConfig builds a snapshot of a running instance's configuration.
func FromConfig(cfg *config.Config, stateDir string) *Snapshot {
	s := &Snapshot{Config: cfg, ConfigPath: cfg.Source.Path, StateDir: stateDir}
	if s.ConfigPath != "" {
		if fi, err := os.Lstat(s.ConfigPath); err == nil {
			s.ConfigLstat = fi
		}
	}
	s.walkState()
	s.findUpstreamOwner()
	return s
}

func (s *Snapshot) walkState() {
	fi, err := os.Lstat(s.StateDir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.Errors = append(s.Errors, fmt.Sprintf("state dir %s: %v", s.StateDir, err))
		}
		return
	}
	s.StateLstat = fi
	if !fi.IsDir() {
		// A symlinked state dir is reported, not entered.
		return
	}
	err = filepath.WalkDir(s.StateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			s.Errors = append(s.Errors, err.Error())
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p == s.StateDir {
			return nil
		}
		rel, _ := filepath.Rel(s.StateDir, p)
		rel = filepath.ToSlash(rel)
		if strings.Count(rel, "/") >= maxWalkDepth {
			s.Truncated = true
			return fs.SkipDir
		}
		if len(s.Files) >= maxWalkEntries {
			s.Truncated = true
			return fs.SkipAll
		}
		info, ierr := d.Info()
		if ierr != nil {
			return nil
		}
		s.Files = append(s.Files, File{Rel: rel, Path: p, Mode: info.Mode()})
		return nil
	})
	if err != nil {
		s.Errors = append(s.Errors, err.Error())
	}
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Rel < s.Files[j].Rel })
}

// under returns the files at or below rel.
func (s *Snapshot) under(rel string) []File {
	var out []File
	for _, f := range s.Files {
		if f.Rel == rel || strings.HasPrefix(f.Rel, rel+"/") {
			out = append(out, f)
		}
	}
	return out
}

// exposed reports whether the listener reaches beyond loopback.
func (s *Snapshot) exposed() bool {
	if s.Config == nil {
		return false
	}
	switch s.Config.Gateway.Bind {
	case config.BindLoopback:
		return false
	case config.BindCustom:
		return !strings.HasPrefix(s.Config.Gateway.CustomBindHost, "127.") && s.Config.Gateway.CustomBindHost != "::1"
	}
	return true
}
