package json5

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"plain json", `{"a": [1, 2.5, "x", true, false, null]}`, map[string]any{"a": []any{1.0, 2.5, "x", true, false, nil}}},
		{"comments and trailing commas", "// head\n{\n  a: 1, /* inline */\n  b: [1, 2,],\n}\n// tail", map[string]any{"a": 1.0, "b": []any{1.0, 2.0}}},
		{"unquoted keys", `{$dollar: 1, _under: 2, camelCase9: 3, ünï: 4}`, map[string]any{"$dollar": 1.0, "_under": 2.0, "camelCase9": 3.0, "ünï": 4.0}},
		{"escaped key", `{\u0061b: 1}`, map[string]any{"ab": 1.0}},
		{"single quotes", `{'a': 'it\'s "x"'}`, map[string]any{"a": `it's "x"`}},
		{"escapes", `"\b\f\n\r\t\v\0\x41\u00e9\/\q\\"`, "\b\f\n\r\t\v\x00Aé/q\\"},
		{"surrogate pair", `"\ud83d\ude00"`, "😀"},
		{"lone surrogate", `"\ud83d x"`, "\uFFFD x"},
		{"line continuation", "'a\\\nb\\\r\nc'", "abc"},
		{"line separator in string", "'a\u2028b'", "a\u2028b"},
		{"hex", `[0x1F, -0xff, +0X10]`, []any{31.0, -255.0, 16.0}},
		{"decimal forms", `[.5, 5., +1, -0.25e1, 1E2, 1.e1]`, []any{0.5, 5.0, 1.0, -2.5, 100.0, 10.0}},
		{"zero", `0`, 0.0},
		{"big is infinity", `1e400`, math.Inf(1)},
		{"infinity", `[Infinity, -Infinity]`, []any{math.Inf(1), math.Inf(-1)}},
		{"odd whitespace", "\uFEFF{\u00A0a\u2003:\v1\f}", map[string]any{"a": 1.0}},
		{"duplicate keys: last wins", `{a: 1, a: 2}`, map[string]any{"a": 2.0}},
		{"nested", `{a: {b: {c: []}}}`, map[string]any{"a": map[string]any{"b": map[string]any{"c": []any{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	v, err := Unmarshal([]byte(`NaN`))
	if err != nil || !math.IsNaN(v.(float64)) {
		t.Fatalf("NaN: %v %v", v, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		line, col int
		msg       string
	}{
		{"missing comma", "{\n  gateway: {\n    port: 18780,\n    bind: \"loopback\"\n    auth: {mode: \"token\"}\n  }\n}", 5, 5, `expected ',' or '}' after the value of "bind", found auth (is a comma missing?)`},
		{"missing comma in a list", "[1, 2\n 3]", 2, 2, "expected ',' or ']' after a list item, found number"},
		{"unclosed object", "{\n  a: 1,\n", 3, 1, "the '{' at line 1, column 1 is never closed with '}'"},
		{"unclosed string", "{a: 'x\n}", 1, 5, "string is never closed"},
		{"unclosed comment", "{a: 1} /* x", 1, 8, "comment /* is never closed"},
		{"missing colon", "{a 1}", 1, 4, `expected ':' after the key "a", found number`},
		{"missing value", "{a: }", 1, 5, `the key "a" has no value`},
		{"two commas", "[1,,2]", 1, 4, "a list item is missing"},
		{"two commas in object", "{a: 1,, b: 2}", 1, 7, "a key is missing"},
		{"bare word", "{a: loopback}", 1, 5, "unexpected loopback"},
		{"leading zero", "{a: 0123}", 1, 5, "leading zeros"},
		{"bad escape", `"\1"`, 1, 2, `\1 is not an escape`},
		{"octal", `"\01"`, 1, 2, "octal"},
		{"bad hex escape", `"\xZZ"`, 1, 2, `invalid \x escape`},
		{"number then letters", "[12ab]", 1, 2, "invalid number"},
		{"trailing garbage", "{} x", 1, 4, "after the end of the document"},
		{"key starting with digit", "{1a: 2}", 1, 2, "expected a key"},
		{"lone slash", "{a: 1 / 2}", 1, 7, "unexpected '/'"},
		{"columns count characters", "{ü: 1 x}", 1, 7, "found x"},
		{"invalid utf-8", "{a: \"\xff\"}", 1, 6, "invalid UTF-8"},
		{"empty hex", "0x", 1, 1, "no digits after 0x"},
		{"exponent without digits", "1e", 1, 1, "exponent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("want a SyntaxError, got %v", err)
			}
			if se.Line != tt.line || se.Col != tt.col || !strings.Contains(se.Msg, tt.msg) {
				t.Fatalf("got line %d col %d %q; want line %d col %d containing %q", se.Line, se.Col, se.Msg, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	for _, in := range []string{"", "  \n", "// only a comment\n/* and another */"} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrEmpty) {
			t.Errorf("%q: got %v, want ErrEmpty", in, err)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2)
	_, err := Parse([]byte(deep))
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "levels deep") {
		t.Fatalf("got %v", err)
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
}

func TestDuplicate(t *testing.T) {
	src := []byte("{\n  a: {x: 1},\n  b: [{y: 1, y: 2}],\n}")
	v, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	dup, first := v.Duplicate()
	if dup == nil || dup.Key != "y" {
		t.Fatalf("got %v", dup)
	}
	if l, c := Position(src, dup.KeyStart); l != 3 || c != 14 {
		t.Fatalf("dup at %d:%d", l, c)
	}
	if l, c := Position(src, first.KeyStart); l != 3 || c != 8 {
		t.Fatalf("first at %d:%d", l, c)
	}
	if v, _ := Parse([]byte(`{a: 1, b: {a: 2}}`)); func() bool { d, _ := v.Duplicate(); return d != nil }() {
		t.Fatal("same key at different levels is not a duplicate")
	}
}

// TestSpans checks that every value's span is exactly its text: the
// property audit --fix relies on to replace a value in place.
func TestSpans(t *testing.T) {
	src := []byte("{\n  // c\n  a: 'x', \"b\": [1, {c: null}, -0x10], d: true,\n}")
	v, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, src, v)
	if got := string(src[v.Get("a").Start:v.Get("a").End]); got != "'x'" {
		t.Fatalf("span of a = %q", got)
	}
}

func checkSpans(t *testing.T, src []byte, v *Value) {
	t.Helper()
	sub, err := Parse(src[v.Start:v.End])
	if err != nil {
		t.Fatalf("span %q: %v", src[v.Start:v.End], err)
	}
	// fmt prints maps sorted and NaN as NaN, where DeepEqual says NaN != NaN.
	if fmt.Sprintf("%#v", sub.Interface()) != fmt.Sprintf("%#v", v.Interface()) {
		t.Fatalf("span %q parses to %#v, want %#v", src[v.Start:v.End], sub.Interface(), v.Interface())
	}
	for _, e := range v.Elems {
		checkSpans(t, src, e)
	}
	for _, m := range v.Members {
		checkSpans(t, src, m.Value)
	}
}

// FuzzParse: never panics; every error has a position inside the input;
// every span parses back to its value; and on documents that are plain
// JSON the result is what encoding/json makes of them.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":1}`, `{a:1,}`, "// c\n{a:'b'}", `[0x10, .5, +1, Infinity, NaN]`,
		`"\u00e9\ud83d\ude00"`, `{a: {b: [1, 2, {c: null}]}}`, "{a:1 /* x */}", `{\u0061: 1}`,
		"'a\\\nb'", `{"a":1,"a":2}`, `1e400`, `-0`, `"\x41"`, "{\n gateway: {port: 18780, bind: \"loopback\"\n auth: {}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				if se.Offset < 0 || se.Offset > len(data) || se.Line < 1 || se.Col < 1 {
					t.Fatalf("bad position %+v", se)
				}
			} else if !errors.Is(err, ErrEmpty) {
				t.Fatalf("unexpected error type %T", err)
			}
		} else {
			if v.Start < 0 || v.End > len(data) || v.Start > v.End {
				t.Fatalf("bad span %d..%d", v.Start, v.End)
			}
			checkSpans(t, data, v)
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		var want any
		if json.Unmarshal(data, &want) != nil {
			return // e.g. a number out of float64's range
		}
		if err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		if !reflect.DeepEqual(v.Interface(), want) {
			t.Fatalf("got %#v, encoding/json %#v", v.Interface(), want)
		}
	})
}
