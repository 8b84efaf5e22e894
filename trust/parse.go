package trust

import (
	"net/http"
	"net/netip"

	"gateway/httperr"
)

// wrap turns a sentinel into an *httperr.Error with the status and public
// message the client sees. errors.Is(err, sentinel) keeps working.
func wrap(sentinel error) error {
	switch sentinel {
	case ErrUntrustedProxy:
		return httperr.New(http.StatusForbidden, "untrusted_proxy",
			"request came through a proxy on this host that is not trusted; add its address to gateway.trustedProxies", sentinel)
	case ErrTooLarge:
		return httperr.New(http.StatusBadRequest, "forwarding_header_too_large",
			"forwarding header too large (max 8 KiB per line, 64 hops)", sentinel)
	case ErrUnknownClient:
		return httperr.New(http.StatusBadRequest, "unknown_client",
			"the proxy hid the client address (unknown or obfuscated node)", sentinel)
	case ErrBadPeer:
		return httperr.New(http.StatusBadRequest, "bad_peer", "peer address is not an IP address", sentinel)
	}
	return httperr.New(http.StatusBadRequest, "bad_forwarding_header", "malformed forwarding header", sentinel)
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseNode parses one hop: an IPv4 or IPv6 address, optionally bracketed
// and with a port, IPv6 possibly with a zone. The result is unmapped. An
// unspecified address (0.0.0.0, ::) is refused: no real client has it.
// forwarded enables RFC 7239 node syntax: "unknown" and "_obfuscated"
// identifiers (refused as hiding the client) and obfuscated ports.
func parseNode(s string, forwarded bool) (netip.Addr, error) {
	s = trimOWS(s)
	if s == "" {
		return netip.Addr{}, wrap(ErrMalformed)
	}
	if forwarded && (s[0] == '_' || equalFold(s, "unknown")) {
		return netip.Addr{}, wrap(ErrUnknownClient)
	}
	host := s
	port := ""
	colons := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			colons++
		}
	}
	switch {
	case s[0] == '[':
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return netip.Addr{}, wrap(ErrMalformed)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return netip.Addr{}, wrap(ErrMalformed)
			}
			port = rest[1:]
			if port == "" {
				return netip.Addr{}, wrap(ErrMalformed)
			}
		}
	case colons == 1:
		// IPv4 with a port. Bare IPv6 has at least two colons.
		for i := 0; i < len(s); i++ {
			if s[i] == ':' {
				host, port = s[:i], s[i+1:]
				break
			}
		}
		if port == "" {
			return netip.Addr{}, wrap(ErrMalformed)
		}
	}
	if port != "" && !validPort(port, forwarded) {
		return netip.Addr{}, wrap(ErrMalformed)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, wrap(ErrMalformed)
	}
	if s[0] == '[' && !a.Is6() {
		return netip.Addr{}, wrap(ErrMalformed)
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.IsUnspecified() {
		return netip.Addr{}, wrap(ErrMalformed)
	}
	return a, nil
}

func validPort(p string, forwarded bool) bool {
	if forwarded && p[0] == '_' {
		// RFC 7239 6.3 obfport: "_" 1*(ALPHA / DIGIT / "." / "_" / "-")
		if len(p) < 2 {
			return false
		}
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// element is one RFC 7239 forwarded-element: the parameters of one hop.
type element struct {
	forv        string
	hasFor      bool
	proto, host string
}

type elements struct {
	e [MaxHops]element
	n int
}

// parseForwarded parses Forwarded header lines (RFC 7239 section 4):
//
//	Forwarded   = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair = token "=" value
//	value = token / quoted-string
//
// Only for, proto and host are kept. A quoted value containing a
// backslash escape is refused (no address needs one). Duplicate parameters
// in one element are malformed (RFC 7239 section 4).
func parseForwarded(lines []string, out *elements) error {
	for _, line := range lines {
		i := 0
		for {
			if out.n == MaxHops {
				return wrap(ErrTooLarge)
			}
			el := &out.e[out.n]
			*el = element{}
			out.n++
			var seenProto, seenHost bool
			for {
				i = skipOWS(line, i)
				if i < len(line) && line[i] != ',' && line[i] != ';' {
					// forwarded-pair
					ks := i
					for i < len(line) && isTchar(line[i]) {
						i++
					}
					key := line[ks:i]
					if key == "" || i >= len(line) || line[i] != '=' {
						return wrap(ErrMalformed)
					}
					i++
					var val string
					if i < len(line) && line[i] == '"' {
						vs := i + 1
						j := vs
						for j < len(line) && line[j] != '"' {
							if line[j] == '\\' || line[j] < 0x20 && line[j] != '\t' || line[j] == 0x7f {
								return wrap(ErrMalformed)
							}
							j++
						}
						if j >= len(line) {
							return wrap(ErrMalformed)
						}
						val = line[vs:j]
						i = j + 1
					} else {
						vs := i
						for i < len(line) && isTchar(line[i]) {
							i++
						}
						val = line[vs:i]
						if val == "" {
							return wrap(ErrMalformed)
						}
					}
					switch {
					case equalFold(key, "for"):
						if el.hasFor {
							return wrap(ErrMalformed)
						}
						el.forv, el.hasFor = val, true
					case equalFold(key, "proto"):
						if seenProto {
							return wrap(ErrMalformed)
						}
						el.proto, seenProto = val, true
					case equalFold(key, "host"):
						if seenHost {
							return wrap(ErrMalformed)
						}
						el.host, seenHost = val, true
					}
					i = skipOWS(line, i)
				}
				if i >= len(line) || line[i] == ',' {
					break
				}
				if line[i] != ';' {
					return wrap(ErrMalformed)
				}
				i++
			}
			if i >= len(line) {
				break
			}
			i++ // ','
		}
	}
	return nil
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
