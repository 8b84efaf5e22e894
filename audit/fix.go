package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"gateway/json5"
	"gateway/state"
)

// FixAction is one remediation attempted on a path.
type FixAction struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Status string `json:"status"` // applied | skipped | failed
	Reason string `json:"reason,omitempty"`
}

// FixResult is what --fix did.
type FixResult struct {
	// Changes are the configuration edits, as "key: old -> new".
	Changes []string    `json:"changes"`
	Actions []FixAction `json:"actions"`
	Errors  []string    `json:"errors"`
}

// Fix applies the safe remediations: groupPolicy open -> allowlist,
// redactSensitive off -> tools, and modes 0700/0600 on the state tree. It
// never follows or chmods a symlink and never touches bind, auth or
// secrets. The config is rewritten atomically in its own format.
func Fix(s *Snapshot) FixResult {
	res := FixResult{Changes: []string{}, Actions: []FixAction{}, Errors: []string{}}
	fixConfig(s, &res)
	fixModes(s, &res)
	return res
}

// edit is one value replacement at a key path.
type edit struct {
	path     []string
	old, new string
}

func configEdits(tree map[string]any) []edit {
	var out []edit
	if chs, ok := tree["channels"].(map[string]any); ok {
		names := make([]string, 0, len(chs))
		for n := range chs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if ch, ok := chs[n].(map[string]any); ok && ch["groupPolicy"] == "open" {
				out = append(out, edit{path: []string{"channels", n, "groupPolicy"}, old: "open", new: "allowlist"})
			}
		}
	}
	if lg, ok := tree["logging"].(map[string]any); ok && lg["redactSensitive"] == "off" {
		out = append(out, edit{path: []string{"logging", "redactSensitive"}, old: "off", new: "tools"})
	}
	return out
}

func fixConfig(s *Snapshot, res *FixResult) {
	if s.Config == nil || s.Config.Source.Tree == nil || s.ConfigPath == "" {
		return
	}
	edits := configEdits(s.Config.Source.Tree)
	if len(edits) == 0 {
		return
	}
	act := FixAction{Path: s.ConfigPath, Action: "rewrite config"}
	if s.ConfigLstat != nil && s.ConfigLstat.Mode()&fs.ModeSymlink != 0 {
		act.Status, act.Reason = "skipped", "symlink: not followed"
		res.Actions = append(res.Actions, act)
		return
	}
	var out []byte
	var err error
	switch s.Config.Source.Format {
	case "yaml":
		out, err = editYAML(s.Config.Source.Text, edits)
	default:
		out, err = editJSON5(s.Config.Source.Text, edits)
	}
	if err != nil {
		act.Status, act.Reason = "failed", err.Error()
		res.Actions = append(res.Actions, act)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.ConfigPath, err))
		return
	}
	mode := state.FileMode
	if s.ConfigLstat != nil {
		mode = s.ConfigLstat.Mode().Perm() &^ 0o077 // never wider than before, never readable by others
	}
	if err := state.WriteFileAtomic(s.ConfigPath, out, mode); err != nil {
		act.Status, act.Reason = "failed", err.Error()
		res.Actions = append(res.Actions, act)
		res.Errors = append(res.Errors, err.Error())
		return
	}
	act.Status = "applied"
	res.Actions = append(res.Actions, act)
	for _, e := range edits {
		res.Changes = append(res.Changes, fmt.Sprintf("%s: %s -> %s", strings.Join(e.path, "."), e.old, e.new))
	}
}

// replacement is one value's text swapped for another, by byte span.
type replacement struct {
	start, end int
	text       string
}

// splice applies replacements to src; the rest of the file (comments,
// order, layout) is kept byte for byte.
func splice(src []byte, reps []replacement) []byte {
	sort.Slice(reps, func(i, j int) bool { return reps[i].start > reps[j].start })
	out := bytes.Clone(src)
	for _, r := range reps {
		out = append(out[:r.start:r.start], append([]byte(r.text), out[r.end:]...)...)
	}
	return out
}

// editJSON5 replaces each value in place, in the quote style it had.
func editJSON5(text []byte, edits []edit) ([]byte, error) {
	root, err := json5.Parse(text)
	if err != nil {
		return nil, err
	}
	var reps []replacement
	for _, e := range edits {
		v := root
		for _, key := range e.path {
			if v = v.Get(key); v == nil {
				return nil, fmt.Errorf("key %s not found", strings.Join(e.path, "."))
			}
		}
		if v.Kind != json5.String {
			return nil, fmt.Errorf("%s is not a string", strings.Join(e.path, "."))
		}
		q, _ := json.Marshal(e.new)
		if text[v.Start] == '\'' && !strings.ContainsAny(e.new, "'\\") {
			q = []byte("'" + e.new + "'")
		}
		reps = append(reps, replacement{v.Start, v.End, string(q)})
	}
	return splice(text, reps), nil
}

// editYAML replaces each scalar in place, in its own quote style, found
// through the YAML syntax tree; comments and layout are kept.
func editYAML(text []byte, edits []edit) ([]byte, error) {
	f, err := parser.ParseBytes(text, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, fmt.Errorf("want exactly one YAML document")
	}
	lines := bytes.SplitAfter(text, []byte("\n"))
	var reps []replacement
	for _, e := range edits {
		name := strings.Join(e.path, ".")
		n := f.Docs[0].Body
		for _, key := range e.path {
			if n = yamlChild(n, key); n == nil {
				return nil, fmt.Errorf("key %s not found", name)
			}
		}
		for {
			if a, ok := n.(*ast.AnchorNode); ok {
				n = a.Value
				continue
			}
			break
		}
		sn, ok := n.(*ast.StringNode)
		if !ok {
			return nil, fmt.Errorf("%s is not a plain string in the file (an alias, tag or block?): edit it by hand", name)
		}
		tk := sn.GetToken()
		var old, repl string
		switch tk.Type {
		case token.StringType:
			old, repl = sn.Value, e.new
		case token.SingleQuoteType:
			old, repl = "'"+strings.ReplaceAll(sn.Value, "'", "''")+"'", "'"+strings.ReplaceAll(e.new, "'", "''")+"'"
		case token.DoubleQuoteType:
			o, _ := json.Marshal(sn.Value)
			r, _ := json.Marshal(e.new)
			old, repl = string(o), string(r)
		default:
			return nil, fmt.Errorf("%s: unexpected token: edit it by hand", name)
		}
		// Positions are lines and columns in characters; find the bytes.
		line, col := tk.Position.Line, tk.Position.Column
		if line < 1 || line > len(lines) {
			return nil, fmt.Errorf("%s: position out of range", name)
		}
		start := 0
		for _, l := range lines[:line-1] {
			start += len(l)
		}
		cur := lines[line-1]
		for i := 1; i < col && len(cur) > 0; i++ {
			_, sz := utf8.DecodeRune(cur)
			cur, start = cur[sz:], start+sz
		}
		if !bytes.HasPrefix(text[start:], []byte(old)) {
			return nil, fmt.Errorf("%s is written in a form --fix does not rewrite (escapes or several lines): edit it by hand", name)
		}
		reps = append(reps, replacement{start, start + len(old), repl})
	}
	out := splice(text, reps)
	// The result must still parse, to the values intended.
	if _, err := parser.ParseBytes(out, 0); err != nil {
		return nil, fmt.Errorf("edit would break the file: %w", err)
	}
	return out, nil
}

// yamlChild is the value of key in a mapping node.
func yamlChild(n ast.Node, key string) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
			continue
		case *ast.TagNode:
			n = x.Value
			continue
		}
		break
	}
	var pairs []*ast.MappingValueNode
	switch x := n.(type) {
	case *ast.MappingNode:
		pairs = x.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{x}
	default:
		return nil
	}
	var found ast.Node
	for _, p := range pairs {
		if p.Key != nil && p.Key.GetToken() != nil && p.Key.GetToken().Value == key {
			found = p.Value
		}
	}
	return found
}

// modeTargets lists the state-tree paths --fix tightens, with the mode.
func modeTargets(s *Snapshot) []struct {
	f    File
	mode fs.FileMode
} {
	var out []struct {
		f    File
		mode fs.FileMode
	}
	add := func(f File, m fs.FileMode) {
		out = append(out, struct {
			f    File
			mode fs.FileMode
		}{f, m})
	}
	for _, fl := range s.Files {
		parts := strings.Split(fl.Rel, "/")
		isDir := fl.Mode.IsDir()
		switch {
		case parts[0] == "credentials":
			if isDir {
				add(fl, 0o700)
			} else {
				add(fl, 0o600)
			}
		case (fl.Rel == "devices" || fl.Rel == "identity") && (isDir || fl.IsSymlink()):
			add(fl, 0o700)
		case (parts[0] == "devices" || parts[0] == "identity") && len(parts) == 2 && !isDir:
			add(fl, 0o600)
		case parts[0] == "agents" && len(parts) == 2 && (isDir || fl.IsSymlink()):
			add(fl, 0o700)
		case parts[0] == "agents" && len(parts) == 3 && (parts[2] == "agent" || parts[2] == "sessions") && (isDir || fl.IsSymlink()):
			add(fl, 0o700)
		case parts[0] == "agents" && len(parts) == 4 && parts[2] == "agent" && parts[3] == "auth-profiles.json":
			add(fl, 0o600)
		case parts[0] == "agents" && len(parts) == 4 && parts[2] == "sessions" && (parts[3] == "sessions.json" || path.Ext(parts[3]) == ".jsonl"):
			add(fl, 0o600)
		}
	}
	return out
}

func fixModes(s *Snapshot, res *FixResult) {
	chmod := func(p string, lmode fs.FileMode, want fs.FileMode) {
		act := FixAction{Path: p, Action: fmt.Sprintf("chmod %o", want)}
		if lmode&fs.ModeSymlink != 0 {
			act.Status, act.Reason = "skipped", "symlink: not followed"
			res.Actions = append(res.Actions, act)
			return
		}
		if lmode.Perm() == want {
			return
		}
		// Re-check right before acting: a path swapped for a symlink
		// since the snapshot must not redirect the chmod.
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			act.Status, act.Reason = "skipped", "changed since the snapshot"
			res.Actions = append(res.Actions, act)
			return
		}
		if err := os.Chmod(p, want); err != nil {
			act.Status, act.Reason = "failed", err.Error()
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", p, err))
		} else {
			act.Status = "applied"
		}
		res.Actions = append(res.Actions, act)
	}
	if s.StateLstat != nil {
		chmod(s.StateDir, s.StateLstat.Mode(), 0o700)
	}
	if s.ConfigLstat != nil {
		chmod(s.ConfigPath, s.ConfigLstat.Mode(), 0o600)
	}
	for _, t := range modeTargets(s) {
		chmod(t.f.Path, t.f.Mode, t.mode)
	}
}
