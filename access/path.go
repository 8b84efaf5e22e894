package access

import (
	"errors"
	"path"
	"strings"

	"gateway/percent"
)

// ErrAmbiguousPath is a request-target whose path a rule could read one way
// and the upstream another.
var ErrAmbiguousPath = errors.New("request-target the upstream could route differently than the rules read it")

// capPrefix is OpenClaw's plugin-node capability prefix: OpenClaw removes
// "/__openclaw__/cap/<id>" before routing (the id is a capability token,
// kept on the request).
const capPrefix = "/__openclaw__/cap/"

// Routed is a request's path as the upstream will route it.
type Routed struct {
	// Path is what the upstream receives (percent-decoded, "\" read as
	// "/", dot segments and empty segments resolved), to be re-encoded
	// canonically.
	Path string
	// Match is Path without OpenClaw's capability prefix: what rules
	// match.
	Match string
}

// RoutePath reads a raw request-target's path (before any "?") as OpenClaw
// will route it. A raw "#", a control character, and an encoded "/", "\"
// or "." are refused: each can make the upstream read another path than
// the one matched (OpenClaw drops "#..." and resolves "%2e%2e").
func RoutePath(raw string) (Routed, error) {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if !strings.HasPrefix(raw, "/") {
		return Routed{}, ErrAmbiguousPath
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c < 0x20 || c == 0x7f || c == '#' {
			return Routed{}, ErrAmbiguousPath
		}
		if c == '%' {
			d, ok := percent.At(raw, i)
			if !ok {
				return Routed{}, ErrAmbiguousPath
			}
			switch d {
			case '/', '\\', '.', '#', '?', '%':
				return Routed{}, ErrAmbiguousPath
			}
			if d < 0x20 || d == 0x7f {
				return Routed{}, ErrAmbiguousPath
			}
		}
	}
	// Every escape was checked valid above: Decode decodes them all.
	p := strings.ReplaceAll(percent.Decode(raw), "\\", "/")
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	r := Routed{Path: clean, Match: clean}
	if rest, ok := strings.CutPrefix(clean, capPrefix); ok {
		if i := strings.IndexByte(rest, '/'); i > 0 {
			r.Match = rest[i:]
		}
	}
	return r, nil
}
