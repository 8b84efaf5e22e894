// Package json5 reads JSON5 (https://spec.json5.org/), the format of the
// gateway's configuration and of OpenClaw's. It is the one JSON5 parser in
// the project: it reports errors by line and column, and it keeps the byte
// span of every value so that a value can be replaced in the original text
// without losing comments or layout (audit --fix).
//
// Numbers are float64, as in JavaScript. An object keeps its members in
// source order, duplicates included; Interface lets the last one win, as
// JSON5.parse does, and Duplicate finds them for a reader that refuses
// them.
package json5

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is how deeply objects and arrays may nest. Real configuration
// stays under ten; the limit keeps a hostile file from exhausting the stack.
const MaxDepth = 500

// Kind is the type of a Value.
type Kind int

// The kinds of values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// Value is one parsed value with its place in the source.
type Value struct {
	Kind Kind
	// Start and End are the byte offsets of the value's text: a string's
	// span includes its quotes.
	Start, End int
	Bool       bool
	Num        float64
	Str        string
	Elems      []*Value  // Array
	Members    []*Member // Object, in source order
}

// Member is one key of an object.
type Member struct {
	Key              string
	KeyStart, KeyEnd int
	Value            *Value
}

// SyntaxError is a document that is not JSON5. Line and Col are 1-based;
// Col counts characters, not bytes.
type SyntaxError struct {
	Offset    int
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// ErrEmpty is a document with no value: only whitespace and comments.
var ErrEmpty = errors.New("empty document")

// Parse parses one JSON5 document. Invalid UTF-8 anywhere is an error.
func Parse(data []byte) (*Value, error) {
	p := &parser{src: data}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, p.errAt(off, "invalid UTF-8")
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.off >= len(p.src) {
		return nil, ErrEmpty
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.off < len(p.src) {
		return nil, p.errAt(p.off, "unexpected %s after the end of the document", p.describe())
	}
	return v, nil
}

// Unmarshal parses data into plain Go values: map[string]any, []any,
// string, float64, bool and nil. Duplicate keys: the last wins.
func Unmarshal(data []byte) (any, error) {
	v, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// Interface converts v to plain Go values.
func (v *Value) Interface() any {
	switch v.Kind {
	case Bool:
		return v.Bool
	case Number:
		return v.Num
	case String:
		return v.Str
	case Array:
		out := make([]any, len(v.Elems))
		for i, e := range v.Elems {
			out[i] = e.Interface()
		}
		return out
	case Object:
		out := make(map[string]any, len(v.Members))
		for _, m := range v.Members {
			out[m.Key] = m.Value.Interface()
		}
		return out
	}
	return nil
}

// Get returns the value of key in an object (the last, if repeated).
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != Object {
		return nil
	}
	for i := len(v.Members) - 1; i >= 0; i-- {
		if v.Members[i].Key == key {
			return v.Members[i].Value
		}
	}
	return nil
}

// Duplicate returns the first repeated key in document order, anywhere in
// v, and the earlier member it repeats.
func (v *Value) Duplicate() (dup, first *Member) {
	switch v.Kind {
	case Array:
		for _, e := range v.Elems {
			if d, f := e.Duplicate(); d != nil {
				return d, f
			}
		}
	case Object:
		seen := make(map[string]*Member, len(v.Members))
		for _, m := range v.Members {
			if f, ok := seen[m.Key]; ok {
				return m, f
			}
			seen[m.Key] = m
			if d, f := m.Value.Duplicate(); d != nil {
				return d, f
			}
		}
	}
	return nil, nil
}

// Position converts a byte offset of src to a 1-based line and column
// (in characters).
func Position(src []byte, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	line = 1
	start := 0
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, utf8.RuneCount(src[start:off]) + 1
}

type parser struct {
	src []byte
	off int
}

func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	line, col := Position(p.src, off)
	return &SyntaxError{Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peekRune() (rune, int) {
	if p.off >= len(p.src) {
		return -1, 0
	}
	return utf8.DecodeRune(p.src[p.off:])
}

// isSpace is JSON5's WhiteSpace and LineTerminator.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x2028, 0x2029, 0xFEFF:
		return true
	}
	return unicode.Is(unicode.Zs, r)
}

func isLineTerminator(r rune) bool {
	return r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029
}

// skip passes over whitespace and comments.
func (p *parser) skip() error {
	for p.off < len(p.src) {
		r, n := p.peekRune()
		switch {
		case isSpace(r):
			p.off += n
		case r == '/' && p.off+1 < len(p.src) && p.src[p.off+1] == '/':
			p.off += 2
			for p.off < len(p.src) {
				r, n := p.peekRune()
				if isLineTerminator(r) {
					break
				}
				p.off += n
			}
		case r == '/' && p.off+1 < len(p.src) && p.src[p.off+1] == '*':
			start := p.off
			end := bytes.Index(p.src[p.off+2:], []byte("*/"))
			if end < 0 {
				return p.errAt(start, "comment /* is never closed with */")
			}
			p.off += 2 + end + 2
		case r == '/':
			return p.errAt(p.off, "unexpected '/' (comments start with // or /*)")
		default:
			return nil
		}
	}
	return nil
}

// describe names what is at the current offset, for error messages.
func (p *parser) describe() string {
	if p.off >= len(p.src) {
		return "end of file"
	}
	r, _ := p.peekRune()
	switch {
	case r == '"' || r == '\'':
		s := p.src[p.off:]
		if len(s) > 40 {
			s = s[:40]
		}
		if i := strings.IndexAny(string(s[1:]), string(r)+"\n"); i >= 0 && s[1+i] == byte(r) {
			return "string " + string(s[:i+2])
		}
		return "a string"
	case isIdentStart(r) || r == '\\':
		end := p.off
		for end < len(p.src) && end-p.off < 40 {
			r, n := utf8.DecodeRune(p.src[end:])
			if !isIdentPart(r) {
				break
			}
			end += n
		}
		if end > p.off {
			return string(p.src[p.off:end])
		}
	case r >= '0' && r <= '9', r == '-', r == '+', r == '.':
		return "number"
	}
	if unicode.IsPrint(r) {
		return fmt.Sprintf("'%c'", r)
	}
	return fmt.Sprintf("character %U", r)
}

func (p *parser) value(depth int) (*Value, error) {
	if depth > MaxDepth {
		return nil, p.errAt(p.off, "nested more than %d levels deep", MaxDepth)
	}
	if p.off >= len(p.src) {
		return nil, p.errAt(p.off, "unexpected end of file: a value is missing")
	}
	start := p.off
	r, _ := p.peekRune()
	switch {
	case r == '{':
		return p.object(depth)
	case r == '[':
		return p.array(depth)
	case r == '"' || r == '\'':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &Value{Kind: String, Start: start, End: p.off, Str: s}, nil
	case r == '-' || r == '+' || r == '.' || (r >= '0' && r <= '9'):
		return p.number()
	}
	word := p.word()
	switch word {
	case "true", "false":
		return &Value{Kind: Bool, Start: start, End: p.off, Bool: word == "true"}, nil
	case "null":
		return &Value{Kind: Null, Start: start, End: p.off}, nil
	case "Infinity", "NaN":
		p.off = start
		return p.number()
	}
	p.off = start
	if word != "" {
		return nil, p.errAt(start, "unexpected %s: a value is a string (quoted), a number, true, false, null, an object or an array", word)
	}
	return nil, p.errAt(start, "unexpected %s: expected a value", p.describe())
}

// word consumes an ASCII identifier-like run, for literals.
func (p *parser) word() string {
	start := p.off
	for p.off < len(p.src) {
		c := p.src[p.off]
		if c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.off++
			continue
		}
		break
	}
	return string(p.src[start:p.off])
}

func (p *parser) object(depth int) (*Value, error) {
	open := p.off
	v := &Value{Kind: Object, Start: open}
	p.off++ // {
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.off >= len(p.src) {
			return nil, p.unclosed(open, '{', '}')
		}
		if p.src[p.off] == '}' {
			p.off++
			v.End = p.off
			return v, nil
		}
		m, err := p.member(depth)
		if err != nil {
			return nil, err
		}
		v.Members = append(v.Members, m)
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.off >= len(p.src) {
			return nil, p.unclosed(open, '{', '}')
		}
		switch p.src[p.off] {
		case ',':
			p.off++
		case '}':
			p.off++
			v.End = p.off
			return v, nil
		default:
			return nil, p.errAt(p.off, "expected ',' or '}' after the value of %q, found %s (is a comma missing?)", m.Key, p.describe())
		}
	}
}

func (p *parser) member(depth int) (*Member, error) {
	m := &Member{KeyStart: p.off}
	r, _ := p.peekRune()
	switch {
	case r == '"' || r == '\'':
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		m.Key = k
	case isIdentStart(r) || r == '\\':
		k, err := p.ident()
		if err != nil {
			return nil, err
		}
		m.Key = k
	case r == ',':
		return nil, p.errAt(p.off, "unexpected ',': a key is missing (or there are two commas)")
	default:
		return nil, p.errAt(p.off, "expected a key (a name or a quoted string), found %s", p.describe())
	}
	m.KeyEnd = p.off
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.off >= len(p.src) || p.src[p.off] != ':' {
		return nil, p.errAt(p.off, "expected ':' after the key %q, found %s", m.Key, p.describe())
	}
	p.off++
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.off < len(p.src) && (p.src[p.off] == ',' || p.src[p.off] == '}') {
		return nil, p.errAt(p.off, "the key %q has no value", m.Key)
	}
	val, err := p.value(depth + 1)
	if err != nil {
		return nil, err
	}
	m.Value = val
	return m, nil
}

func (p *parser) array(depth int) (*Value, error) {
	open := p.off
	v := &Value{Kind: Array, Start: open}
	p.off++ // [
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.off >= len(p.src) {
			return nil, p.unclosed(open, '[', ']')
		}
		if p.src[p.off] == ']' {
			p.off++
			v.End = p.off
			return v, nil
		}
		if p.src[p.off] == ',' {
			return nil, p.errAt(p.off, "unexpected ',': a list item is missing (or there are two commas)")
		}
		e, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.Elems = append(v.Elems, e)
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.off >= len(p.src) {
			return nil, p.unclosed(open, '[', ']')
		}
		switch p.src[p.off] {
		case ',':
			p.off++
		case ']':
			p.off++
			v.End = p.off
			return v, nil
		default:
			return nil, p.errAt(p.off, "expected ',' or ']' after a list item, found %s (is a comma missing?)", p.describe())
		}
	}
}

func (p *parser) unclosed(open int, o, c byte) *SyntaxError {
	line, col := Position(p.src, open)
	return p.errAt(p.off, "unexpected end of file: the '%c' at line %d, column %d is never closed with '%c'", o, line, col, c)
}

// isIdentStart is ES5's IdentifierStart without the \u escape.
func isIdentStart(r rune) bool {
	return r == '$' || r == '_' || unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Lm, unicode.Lo, unicode.Nl)
}

// isIdentPart is ES5's IdentifierPart without the \u escape.
func isIdentPart(r rune) bool {
	return isIdentStart(r) || r == 0x200C || r == 0x200D ||
		unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc)
}

// ident reads an unquoted key (an ES5 IdentifierName).
func (p *parser) ident() (string, error) {
	var b strings.Builder
	first := true
	for p.off < len(p.src) {
		start := p.off
		r, n := p.peekRune()
		if r == '\\' {
			if p.off+1 >= len(p.src) || p.src[p.off+1] != 'u' {
				return "", p.errAt(start, "a '\\' in a key must start a \\uXXXX escape")
			}
			p.off += 2
			u, ok := p.hex(4)
			if !ok {
				return "", p.errAt(start, "invalid \\u escape in a key (want four hex digits)")
			}
			r = rune(u)
		} else {
			p.off += n
		}
		if first && !isIdentStart(r) || !first && !isIdentPart(r) {
			if first {
				return "", p.errAt(start, "a key cannot start with %q (quote it)", r)
			}
			p.off = start
			break
		}
		b.WriteRune(r)
		first = false
	}
	return b.String(), nil
}

// hex consumes n hex digits.
func (p *parser) hex(n int) (uint32, bool) {
	if p.off+n > len(p.src) {
		return 0, false
	}
	var u uint32
	for _, c := range p.src[p.off : p.off+n] {
		d, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		u = u<<4 | uint32(d)
	}
	p.off += n
	return u, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// str reads a single- or double-quoted string.
func (p *parser) str() (string, error) {
	open := p.off
	q := p.src[p.off]
	p.off++
	var b strings.Builder
	for {
		if p.off >= len(p.src) {
			return "", p.errAt(open, "string is never closed with %c", q)
		}
		c := p.src[p.off]
		switch {
		case c == q:
			p.off++
			return b.String(), nil
		case c == '\n' || c == '\r':
			return "", p.errAt(open, "string is never closed with %c on its line (a newline inside a string must be written \\n)", q)
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		default:
			r, n := p.peekRune()
			b.WriteRune(r)
			p.off += n
		}
	}
}

func (p *parser) escape(b *strings.Builder) error {
	start := p.off
	p.off++ // backslash
	if p.off >= len(p.src) {
		return p.errAt(start, "string ends in a lone '\\'")
	}
	r, n := p.peekRune()
	p.off += n
	switch r {
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte('\v')
	case '0':
		if p.off < len(p.src) && p.src[p.off] >= '0' && p.src[p.off] <= '9' {
			return p.errAt(start, "octal escapes are not allowed in JSON5")
		}
		b.WriteByte(0)
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return p.errAt(start, "\\%c is not an escape in JSON5", r)
	case 'x':
		u, ok := p.hex(2)
		if !ok {
			return p.errAt(start, "invalid \\x escape (want two hex digits)")
		}
		b.WriteRune(rune(u))
	case 'u':
		u, ok := p.hex(4)
		if !ok {
			return p.errAt(start, "invalid \\u escape (want four hex digits)")
		}
		r := rune(u)
		if utf16.IsSurrogate(r) {
			// A high surrogate followed by an escaped low one is one
			// character; a lone half becomes U+FFFD, as in encoding/json.
			save := p.off
			if p.off+1 < len(p.src) && p.src[p.off] == '\\' && p.src[p.off+1] == 'u' {
				p.off += 2
				if lo, ok := p.hex(4); ok {
					if d := utf16.DecodeRune(r, rune(lo)); d != unicode.ReplacementChar {
						b.WriteRune(d)
						return nil
					}
				}
			}
			p.off = save
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
	case '\r':
		if p.off < len(p.src) && p.src[p.off] == '\n' {
			p.off++
		}
	case '\n', 0x2028, 0x2029:
		// line continuation: nothing
	default:
		b.WriteRune(r)
	}
	return nil
}

// number reads a JSON5 number: decimal, hexadecimal, Infinity or NaN,
// with an optional sign.
func (p *parser) number() (*Value, error) {
	start := p.off
	neg := false
	if c := p.src[p.off]; c == '+' || c == '-' {
		neg = c == '-'
		p.off++
	}
	v := &Value{Kind: Number, Start: start}
	rest := p.src[p.off:]
	switch {
	case hasWord(rest, "Infinity"):
		p.off += len("Infinity")
		v.Num = math.Inf(1)
	case hasWord(rest, "NaN"):
		p.off += len("NaN")
		v.Num = math.NaN()
	case len(rest) > 1 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X'):
		p.off += 2
		digits := 0
		for p.off < len(p.src) {
			d, ok := hexDigit(p.src[p.off])
			if !ok {
				break
			}
			v.Num = v.Num*16 + float64(d)
			p.off++
			digits++
		}
		if digits == 0 {
			return nil, p.errAt(start, "invalid hexadecimal number: no digits after 0x")
		}
	default:
		numStart := p.off
		intDigits := p.digits()
		if intDigits > 1 && p.src[numStart] == '0' {
			return nil, p.errAt(start, "a number cannot start with 0 (leading zeros are not allowed)")
		}
		fracDigits := 0
		if p.off < len(p.src) && p.src[p.off] == '.' {
			p.off++
			fracDigits = p.digits()
		}
		if intDigits == 0 && fracDigits == 0 {
			return nil, p.errAt(start, "invalid number")
		}
		if p.off < len(p.src) && (p.src[p.off] == 'e' || p.src[p.off] == 'E') {
			p.off++
			if p.off < len(p.src) && (p.src[p.off] == '+' || p.src[p.off] == '-') {
				p.off++
			}
			if p.digits() == 0 {
				return nil, p.errAt(start, "invalid number: no digits in the exponent")
			}
		}
		f, err := strconv.ParseFloat(string(p.src[numStart:p.off]), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, p.errAt(start, "invalid number")
		}
		v.Num = f // out of range is ±Inf or 0, as in JavaScript
	}
	if p.off < len(p.src) {
		if r, _ := p.peekRune(); isIdentPart(r) || r == '.' {
			return nil, p.errAt(start, "invalid number: unexpected %q after it", r)
		}
	}
	if neg {
		v.Num = -v.Num
	}
	v.End = p.off
	return v, nil
}

func (p *parser) digits() int {
	n := 0
	for p.off < len(p.src) && p.src[p.off] >= '0' && p.src[p.off] <= '9' {
		p.off++
		n++
	}
	return n
}

// hasWord reports whether b starts with w not followed by an identifier
// character.
func hasWord(b []byte, w string) bool {
	if len(b) < len(w) || string(b[:len(w)]) != w {
		return false
	}
	if len(b) == len(w) {
		return true
	}
	r, _ := utf8.DecodeRune(b[len(w):])
	return !isIdentPart(r)
}
