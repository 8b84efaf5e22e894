package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

var typeOfConfig = reflect.TypeFor[Config]()

// substitute replaces ${VAR} in every string of the tree. A missing or empty
// variable is an error naming the variable and the key path: it must never
// become an empty password. $${VAR} is the literal text ${VAR}.
func substitute(path string, v any, environ map[string]string, subs map[string]bool) (any, []error) {
	switch x := v.(type) {
	case string:
		out, used, err := expand(x, environ)
		if err != nil {
			return nil, []error{keyErr(path, "%v", err)}
		}
		if used {
			subs[path] = true
		}
		return out, nil
	case map[string]any:
		if ref, ok := secretRef(x); ok {
			val, err := ref.resolve(environ)
			if err != nil {
				return nil, []error{keyErr(path, "%v", err)}
			}
			subs[path] = true
			return val, nil
		}
		var errs []error
		out := make(map[string]any, len(x))
		for k, child := range x {
			s, e := substitute(join(path, k), child, environ, subs)
			errs = append(errs, e...)
			out[k] = s
		}
		return out, errs
	case []any:
		var errs []error
		out := make([]any, len(x))
		for i, child := range x {
			s, e := substitute(fmt.Sprintf("%s[%d]", path, i), child, environ, subs)
			errs = append(errs, e...)
			out[i] = s
		}
		return out, errs
	}
	return v, nil
}

// expand performs ${VAR} substitution on one string.
func expand(s string, environ map[string]string) (out string, used bool, err error) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", false, fmt.Errorf("unterminated ${ in value")
		}
		name := s[i+2 : i+2+end]
		if !validVarName(name) {
			return "", false, fmt.Errorf("invalid variable name %q in ${...}", name)
		}
		val := environ[name]
		if val == "" {
			return "", false, fmt.Errorf("environment variable %s is not set or empty", name)
		}
		b.WriteString(val)
		used = true
		i += 2 + end + 1
	}
	return b.String(), used, nil
}

func validVarName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// conform checks the generic tree against the Go type t, reporting unknown
// keys and type mismatches with their paths, and converts the few values
// that may legitimately arrive as strings (numbers and booleans from ${VAR}).
func conform(path string, v any, t reflect.Type) (any, []error) {
	if t.Kind() == reflect.Pointer {
		if v == nil {
			return nil, nil
		}
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return conformStruct(path, v, t)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, []error{keyErr(path, "expected an object, got %s", kindName(v))}
		}
		var errs []error
		out := make(map[string]any, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			c, e := conform(join(path, k), m[k], t.Elem())
			errs = append(errs, e...)
			out[k] = c
		}
		return out, errs
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return nil, []error{keyErr(path, "expected a list, got %s", kindName(v))}
		}
		var errs []error
		out := make([]any, len(s))
		for i, el := range s {
			c, e := conform(fmt.Sprintf("%s[%d]", path, i), el, t.Elem())
			errs = append(errs, e...)
			out[i] = c
		}
		return out, errs
	}
	return conformScalar(path, v, t)
}

// conformStruct checks an object against a struct's JSON fields: every key
// must be one of them (a typo is an error, with a "did you mean").
func conformStruct(path string, v any, t reflect.Type) (any, []error) {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return map[string]any{}, nil
		}
		return nil, []error{keyErr(path, "expected an object, got %s", kindName(v))}
	}
	fields := jsonFields(t)
	var errs []error
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f, ok := fields[k]
		if !ok {
			errs = append(errs, unknownKey(join(path, k), k, fields))
			continue
		}
		if m[k] == nil {
			continue // null means "default"
		}
		c, e := conform(join(path, k), m[k], f.Type)
		errs = append(errs, e...)
		out[k] = c
	}
	return out, errs
}

// conformScalar checks a string, number or boolean.
func conformScalar(path string, v any, t reflect.Type) (any, []error) {
	switch t.Kind() {
	case reflect.String:
		if s, ok := v.(string); ok {
			return s, nil
		}
		// A YAML number where a string belongs (a phone number without
		// quotes) would lose its '+' or leading zeros: refuse, don't guess.
		return nil, []error{keyErr(path, "expected a string, got %s (quote the value)", kindName(v))}
	case reflect.Int, reflect.Int64:
		switch n := v.(type) {
		case int:
			return n, nil
		case int64:
			return n, nil
		case uint64:
			if n <= math.MaxInt64 {
				return int64(n), nil
			}
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return int64(n), nil
			}
			return nil, []error{keyErr(path, "expected a whole number, got %v", n)}
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
			if err != nil {
				return nil, []error{keyErr(path, "expected a number, got %q", n)}
			}
			return i, nil
		}
		return nil, []error{keyErr(path, "expected a number, got %s", kindName(v))}
	case reflect.Bool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			p, err := strconv.ParseBool(strings.TrimSpace(b))
			if err != nil {
				return nil, []error{keyErr(path, "expected true or false, got %q", b)}
			}
			return p, nil
		}
		return nil, []error{keyErr(path, "expected true or false, got %s", kindName(v))}
	}
	return nil, []error{keyErr(path, "unsupported type %s", t)}
}

func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f
	}
	return out
}

// unknownKey reports a key no struct field has, suggesting the nearest
// known key at that level, as a full path the operator can search for.
func unknownKey(path, key string, fields map[string]reflect.StructField) *KeyError {
	if name := nearest(key, slices.Sorted(maps.Keys(fields))); name != "" {
		parent := strings.TrimSuffix(path, key)
		return &KeyError{Path: path, Msg: fmt.Sprintf("unknown key (did you mean %s%s?)", parent, name), Err: ErrInvalid}
	}
	return &KeyError{Path: path, Msg: "unknown key", Err: ErrInvalid}
}

// nearest is the known key closest to key by edit distance (case and
// underscores aside), if close enough to be a typo: at most one edit for
// short keys, up to a third of the key's length for long ones.
func nearest(key string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	k := norm(key)
	best, bestDist := "", 0
	for _, name := range known {
		d := editDistance(k, norm(name))
		if d <= max(1, len([]rune(k))/3) && (best == "" || d < bestDist) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each cost one.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	// d[i][j] is the distance between x[:i] and y[:j].
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// secretRefValue is OpenClaw's SecretRef: {source: "env", id: "VAR"}
// (provider optional), accepted wherever a string (and so ${VAR}) is.
type secretRefValue struct{ source, id string }

// secretRef reports whether m is a SecretRef: only the keys source, id
// and provider, all strings, source and id present.
func secretRef(m map[string]any) (secretRefValue, bool) {
	var r secretRefValue
	if len(m) < 2 || len(m) > 3 {
		return r, false
	}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return r, false
		}
		switch k {
		case "source":
			r.source = s
		case "id":
			r.id = s
		case "provider":
		default:
			return r, false
		}
	}
	return r, r.source != "" && r.id != ""
}

// resolve reads an env SecretRef, failing closed like ${VAR}: a missing or
// empty variable, or a source the gateway cannot read, is an error.
func (r secretRefValue) resolve(environ map[string]string) (string, error) {
	if r.source != "env" {
		return "", fmt.Errorf("SecretRef source %q is not supported here (use source: \"env\", or ${VAR})", r.source)
	}
	if !validVarName(r.id) {
		return "", fmt.Errorf("SecretRef id %q is not an environment variable name", r.id)
	}
	val := environ[r.id]
	if val == "" {
		return "", fmt.Errorf("environment variable %s (SecretRef) is not set or empty", r.id)
	}
	return val, nil
}
