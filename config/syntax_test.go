package config

import (
	"errors"
	"strings"
	"testing"
)

// TestSyntaxErrors: a document that does not parse is refused with its
// line and column and the line quoted, a caret under the column, in both
// formats.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, file, text string
		line, col        int
		msg              string
		quote            string // the quoted line and caret, exactly
	}{
		{"json5 missing comma", "c.json5", "{\n  gateway: {\n    port: 18780,\n    bind: \"loopback\"\n    auth: {mode: \"token\"},\n  },\n}\n",
			5, 5, `expected ',' or '}' after the value of "bind", found auth (is a comma missing?)`,
			"  5 |     auth: {mode: \"token\"},\n    |     ^"},
		{"json5 duplicate key", "c.json", "{\n  \"gateway\": {\"port\": 1,\n  \"port\": 2}\n}",
			3, 3, `duplicate key "port" (first at line 2, column 15)`, "  3 |   \"port\": 2}\n    |   ^"},
		{"json5 tab indentation", "c.json5", "{\n\tgateway: {\n\t\tport: 18780 bind: 'lan'}}",
			3, 15, "found bind", "  3 | \t\tport: 18780 bind: 'lan'}}\n    | \t\t            ^"},
		{"json5 unclosed", "c.json5", "{gateway: {port: 1}", 1, 20, "the '{' at line 1, column 1 is never closed", ""},
		{"yaml indentation", "c.yaml", "gateway:\n  port: 18780\n  bind: loopback\n auth: x\n",
			4, 2, "value is not allowed in this context", "  4 |  auth: x\n    |  ^"},
		{"yaml duplicate key", "c.yaml", "gateway:\n  port: 1\n  port: 2\n",
			3, 3, `mapping key "port" already defined (first at line 2, column 3)`, "  3 |   port: 2\n    |   ^"},
		{"yaml tab", "c.yml", "gateway:\n\tport: 1\n", 2, 1, "found character '\t' that cannot start any token", ""},
		{"yaml unclosed list", "c.yaml", "gateway:\n  trustedProxies: [10.0.0.1\n  port: 1\n", 0, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.file, tt.text)
			_, err := Load(Options{Path: p, Explicit: true})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("want a SyntaxError, got %v", err)
			}
			if se.Line < 1 || se.Col < 1 || !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), " | ") {
				t.Fatalf("no position or quote: %v", err)
			}
			if tt.line != 0 && (se.Line != tt.line || se.Col != tt.col) {
				t.Errorf("at %d:%d, want %d:%d (%v)", se.Line, se.Col, tt.line, tt.col, err)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("msg %q, want %q", se.Msg, tt.msg)
			}
			if tt.quote != "" && se.Quote != tt.quote {
				t.Errorf("quote:\n%s\nwant:\n%s", se.Quote, tt.quote)
			}
			if !strings.HasPrefix(err.Error(), p+": config: parse ") {
				t.Errorf("error does not start with the path: %v", err)
			}
		})
	}
}

func TestQuoteLine(t *testing.T) {
	long := strings.Repeat("a", 300) + "X" + strings.Repeat("b", 300)
	q := quoteLine([]byte(long), 1, 301)
	lines := strings.Split(q, "\n")
	if len(lines) != 2 || len([]rune(lines[0])) > maxQuote+20 {
		t.Fatalf("long line not windowed: %q", q)
	}
	// The caret is under the X.
	x := strings.IndexRune(lines[0], 'X')
	if c := strings.IndexByte(lines[1], '^'); len([]rune(lines[0][:x])) != len([]rune(lines[1][:c])) {
		t.Fatalf("caret misplaced:\n%s", q)
	}
	// Control characters from a hostile file never reach the terminal.
	if q := quoteLine([]byte("a: \x1b[31mred\x07"), 1, 1); strings.ContainsAny(q, "\x1b\x07") {
		t.Fatalf("control characters quoted: %q", q)
	}
}

// TestYAMLAliasBomb: aliases that expand exponentially are refused, not
// walked.
func TestYAMLAliasBomb(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		doc += n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 10), ", ") + "]\n"
		prev = n
	}
	_, err := Parse([]byte(doc), "yaml")
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("got %v", err)
	}
}

// TestDidYouMean: every unknown key names the nearest known key at its
// level by its full path, when one is close enough to be a typo.
func TestDidYouMean(t *testing.T) {
	tests := []struct{ text, want string }{
		{`{gateway: {trustedProxie: []}}`, "gateway.trustedProxie: unknown key (did you mean gateway.trustedProxies?)"},
		{`{gatway: {}}`, "gatway: unknown key (did you mean gateway?)"},
		{`{gateway: {prot: 1}}`, "gateway.prot: unknown key (did you mean gateway.port?)"},
		{`{gateway: {auth: {mdoe: "token"}}}`, "gateway.auth.mdoe: unknown key (did you mean gateway.auth.mode?)"},
		{`{gateway: {allowed_hosts: []}}`, "gateway.allowed_hosts: unknown key (did you mean gateway.allowedHosts?)"},
		{`{gateway: {frobnicate: 1}}`, "gateway.frobnicate: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			p := writeConfig(t, "c.json5", tt.text)
			_, err := Load(Options{Path: p, Explicit: true})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.HasSuffix(tt.want, "unknown key") && strings.Contains(err.Error(), "did you mean") {
				t.Fatalf("a hint for a key nothing is near: %v", err)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"port", "port", 0}, {"prot", "port", 1}, {"trustedproxie", "trustedproxies", 1}, {"kitten", "sitting", 3}, {"ü", "u", 1}} {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}
