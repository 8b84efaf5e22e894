package trust

import (
	"errors"
	"net/http"
	"strings"

	"gateway/httperr"
	"gateway/percent"
)

// ErrAmbiguousPath refuses a request-target that names the gateway's own
// routes only in another spelling.
var ErrAmbiguousPath = errors.New("path names the gateway's own routes in another spelling")

// ErrDuplicateOrigin refuses a request with more than one Origin line.
var ErrDuplicateOrigin = errors.New("more than one Origin header")

// maxDecodes bounds how many layers of percent-encoding are peeled off
// when looking for a disguised route: an upstream that decodes twice would
// read /%2561dmin as /admin.
const maxDecodes = 3

// namesOwnRoute reports whether the escaped path, read as a lenient upstream
// might read it (percent-decoded, repeatedly; "\" as "/"; ";params" dropped
// from each segment; case folded; dot segments and empty segments
// removed), starts with one of roots; and if so, whether it is spelled
// exactly (its first segment is the root literally, and it holds no
// escape, ";", "\", empty or dot segment). The gateway's own routes never
// need any of those, so anything else is a disguise: routed past the
// gateway's handler to the agent, with the caller's identity.
func namesOwnRoute(escaped string, roots []string) (names, exact bool) {
	first := canonicalFirstSegment(escaped)
	for _, root := range roots {
		if first == root {
			return true, plainOwnPath(escaped, root)
		}
	}
	return false, false
}

// canonicalFirstSegment is the first non-empty, non-dot segment of the path
// after every lenient reading described at namesOwnRoute. Dot segments
// before it are resolved ("/x/../admin" is "/admin").
func canonicalFirstSegment(p string) string {
	for range maxDecodes {
		d := percent.Decode(p)
		if d == p {
			break
		}
		p = d
	}
	p = strings.ReplaceAll(p, "\\", "/")
	var stack []string
	for seg := range strings.SplitSeq(p, "/") {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		switch seg {
		case "", ".":
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			stack = append(stack, seg)
		}
	}
	if len(stack) == 0 {
		return ""
	}
	return strings.ToLower(stack[0])
}

// plainOwnPath reports whether p is /root or /root/... with nothing a
// lenient reader would rewrite.
func plainOwnPath(p, root string) bool {
	rest, ok := strings.CutPrefix(p, "/"+root)
	if !ok || (rest != "" && rest[0] != '/') {
		return false
	}
	if strings.ContainsAny(p, "%;\\") || strings.Contains(p, "//") {
		return false
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func ambiguousPath() error {
	return httperr.New(http.StatusBadRequest, "ambiguous_path",
		"the path names one of the gateway's own routes in another spelling; use its plain form", ErrAmbiguousPath)
}
