// Package percent reads %XX escapes the one way both path readers (trust's
// own-route check and access's rules) need: a valid escape decodes to its
// byte, "/" included; an invalid one is not an escape.
package percent

import "strings"

// At returns the byte the escape at s[i] (a '%') stands for, and whether
// s[i:i+3] is a valid escape.
func At(s string, i int) (byte, bool) {
	if i+2 >= len(s) || s[i] != '%' || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, false
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), true
}

// Decode decodes every valid escape in s (a "/" too, unlike
// url.PathUnescape's use for routing) and leaves invalid ones as they are.
func Decode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if d, ok := At(s, i); ok {
			b.WriteByte(d)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
