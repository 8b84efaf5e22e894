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

	"github.com/tailscale/hujson"
	"go.yaml.in/yaml/v3"

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
		out, err = editJSON5(s.Config.Source.Text, s.Config.Source.Tree, edits, &act)
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

// editJSON5 patches the file with hujson, which keeps comments and layout.
// A file using JSON5 syntax beyond comments and trailing commas (unquoted
// keys, single quotes) is rewritten as plain JSON, which is valid JSON5;
// the action says comments were not kept.
func editJSON5(text []byte, tree map[string]any, edits []edit, act *FixAction) ([]byte, error) {
	var ops []map[string]any
	for _, e := range edits {
		ptr := ""
		for _, p := range e.path {
			ptr += "/" + strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")
		}
		ops = append(ops, map[string]any{"op": "replace", "path": ptr, "value": e.new})
	}
	patch, _ := json.Marshal(ops)
	if v, err := hujson.Parse(text); err == nil {
		if err := v.Patch(patch); err != nil {
			return nil, fmt.Errorf("patch: %w", err)
		}
		return v.Pack(), nil
	}
	cp := deepCopy(tree).(map[string]any)
	for _, e := range edits {
		m := cp
		for _, p := range e.path[:len(e.path)-1] {
			m = m[p].(map[string]any)
		}
		m[e.path[len(e.path)-1]] = e.new
	}
	act.Reason = "file uses JSON5 syntax beyond comments and trailing commas; rewritten as JSON (comments not kept)"
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cp); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, c := range x {
			s[i] = deepCopy(c)
		}
		return s
	}
	return v
}

// editYAML edits scalar values in the YAML node tree, which keeps comments
// and key order.
func editYAML(text []byte, edits []edit) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty YAML document")
	}
	for _, e := range edits {
		n := doc.Content[0]
		for _, key := range e.path {
			n = yamlChild(n, key)
			if n == nil {
				return nil, fmt.Errorf("key %s not found", strings.Join(e.path, "."))
			}
		}
		if n.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s is not a scalar", strings.Join(e.path, "."))
		}
		n.Value = e.new
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	_ = enc.Close()
	return buf.Bytes(), nil
}

func yamlChild(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
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
