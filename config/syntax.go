package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"gateway/json5"
)

// SyntaxError is a configuration document that does not parse. It names
// the line and column and quotes the line, as nginx -t and caddy validate
// do, so the operator can go straight to it.
type SyntaxError struct {
	Format    string // "json5" or "yaml"
	Line, Col int    // 1-based; Col counts characters
	Msg       string
	// Quote is the offending line with a caret under the column.
	Quote string
}

func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("config: parse %s: line %d, column %d: %s", e.Format, e.Line, e.Col, e.Msg)
	if e.Quote != "" {
		s += "\n" + e.Quote
	}
	return s
}

func (e *SyntaxError) Unwrap() error { return ErrInvalid }

// maxQuote is how much of a long line (minified JSON) is quoted.
const maxQuote = 120

// quoteLine renders line `line` of src with a caret under column col:
//
//	5 |     auth: {mode: "token"}
//	  |     ^
//
// Tabs are kept in the caret's indentation so it lines up in any terminal.
func quoteLine(src []byte, line, col int) string {
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	text := []rune(strings.TrimRight(lines[line-1], "\r"))
	col = max(col, 1)
	// Keep a window around the column on a long line.
	from := 0
	prefix, suffix := "", ""
	if len(text) > maxQuote {
		from = max(0, min(col-1-maxQuote/2, len(text)-maxQuote))
		to := min(len(text), from+maxQuote)
		if from > 0 {
			prefix = "…"
		}
		if to < len(text) {
			suffix = "…"
		}
		text = text[from:to]
	}
	var caret strings.Builder
	for i := 0; i < col-1-from && i < len(text); i++ {
		if text[i] == '\t' {
			caret.WriteByte('\t')
		} else {
			caret.WriteByte(' ')
		}
	}
	if prefix != "" {
		caret.WriteByte(' ')
	}
	n := strconv.Itoa(line)
	gutter := strings.Repeat(" ", len(n))
	return fmt.Sprintf("  %s | %s%s%s\n  %s | %s^", n, prefix, sanitizeLine(string(text)), suffix, gutter, caret.String())
}

// sanitizeLine replaces control characters other than tab so that quoting
// a hostile file cannot drive the terminal.
func sanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) {
			return r
		}
		return '�'
	}, s)
}

func syntaxErr(format string, src []byte, line, col int, msg string) *SyntaxError {
	return &SyntaxError{Format: format, Line: line, Col: col, Msg: msg, Quote: quoteLine(src, line, col)}
}

// parseJSON5 parses a JSON5 configuration; a repeated key is an error,
// since which of two values the operator meant is a guess, unless
// lastWins (a file another program reads with JSON5.parse, which keeps
// the last: OpenClaw's).
func parseJSON5(data []byte, lastWins bool) (any, error) {
	v, err := json5.Parse(data)
	if errors.Is(err, json5.ErrEmpty) {
		return nil, nil
	}
	var se *json5.SyntaxError
	if errors.As(err, &se) {
		return nil, syntaxErr("json5", data, se.Line, se.Col, se.Msg)
	}
	if err != nil {
		return nil, fmt.Errorf("config: parse json5: %v: %w", err, ErrInvalid)
	}
	if dup, first := v.Duplicate(); dup != nil && !lastWins {
		fl, fc := json5.Position(data, first.KeyStart)
		l, c := json5.Position(data, dup.KeyStart)
		return nil, syntaxErr("json5", data, l, c, fmt.Sprintf("duplicate key %q (first at line %d, column %d)", dup.Key, fl, fc))
	}
	return v.Interface(), nil
}

// parseYAML parses a YAML configuration. Repeated keys are an error.
func parseYAML(data []byte) (any, error) {
	var v any
	err := yaml.UnmarshalWithOptions(data, &v)
	if err == nil {
		return v, nil
	}
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		pos := ye.GetToken().Position
		msg := yamlAt.ReplaceAllString(ye.GetMessage(), "(first at line $1, column $2)")
		return nil, syntaxErr("yaml", data, pos.Line, pos.Column, msg)
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // never the library's own source excerpt
	}
	return nil, fmt.Errorf("config: parse yaml: %s: %w", msg, ErrInvalid)
}

// yamlAt is the library's "at [line:column]" in a duplicate-key message.
var yamlAt = regexp.MustCompile(`at \[(\d+):(\d+)\]`)

// maxValues bounds the values a document may expand to: YAML aliases
// share one decoded value many times, and walking such a tree (a
// "billion laughs") would never end.
const maxValues = 1 << 20

func tooLarge(v any) bool {
	budget := maxValues
	var walk func(any) bool
	walk = func(v any) bool {
		budget--
		if budget < 0 {
			return false
		}
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				if !walk(c) {
					return false
				}
			}
		case []any:
			for _, c := range x {
				if !walk(c) {
					return false
				}
			}
		}
		return true
	}
	return !walk(v)
}
