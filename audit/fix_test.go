package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestFixModesAndSymlinks(t *testing.T) {
	opts, dir := build(t, "c.yaml", "gateway:\n  trustedProxies: [127.0.0.1]\n", 0o644, layout{
		"credentials/": 0o755, "credentials/whatsapp-allowFrom.json": 0o644, "credentials/whatsapp/": 0o777, "credentials/whatsapp/creds.json": 0o666,
		"agents/main/": 0o755, "agents/main/agent/": 0o755, "agents/main/agent/auth-profiles.json": 0o644,
		"agents/main/sessions/": 0o755, "agents/main/sessions/sessions.json": 0o644, "agents/main/sessions/abc.jsonl": 0o644,
		"devices/": 0o755, "identity/": 0o755, "notes.txt": 0o644,
	}, 0o755)
	// A symlink inside credentials pointing outside: never followed.
	outside := filepath.Join(t.TempDir(), "outside.json")
	_ = os.WriteFile(outside, []byte("{}"), 0o644)
	_ = os.Chmod(outside, 0o644)
	_ = os.Symlink(outside, filepath.Join(dir, "credentials", "linked.json"))

	res := Fix(Take(opts, dir))
	if len(res.Errors) != 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	want := map[string]os.FileMode{
		"":                                     0o700,
		"c.yaml":                               0o600,
		"credentials":                          0o700,
		"credentials/whatsapp-allowFrom.json":  0o600,
		"credentials/whatsapp":                 0o700,
		"credentials/whatsapp/creds.json":      0o600,
		"agents/main":                          0o700,
		"agents/main/agent":                    0o700,
		"agents/main/agent/auth-profiles.json": 0o600,
		"agents/main/sessions":                 0o700,
		"agents/main/sessions/sessions.json":   0o600,
		"agents/main/sessions/abc.jsonl":       0o600,
		"devices":                              0o700,
		"identity":                             0o700,
		"notes.txt":                            0o644, // not on the list: untouched
	}
	for rel, m := range want {
		if got := mode(t, filepath.Join(dir, rel)); got != m {
			t.Errorf("%s: mode %o, want %o", rel, got, m)
		}
	}
	if got := mode(t, outside); got != 0o644 {
		t.Fatalf("symlink target was chmodded to %o", got)
	}
	skipped := false
	for _, a := range res.Actions {
		if strings.HasSuffix(a.Path, "linked.json") && a.Status == "skipped" && strings.Contains(a.Reason, "symlink") {
			skipped = true
		}
	}
	if !skipped {
		t.Fatalf("symlink not reported as skipped: %+v", res.Actions)
	}
	// Idempotent: a second run changes nothing.
	res2 := Fix(Take(opts, dir))
	for _, a := range res2.Actions {
		if a.Status == "applied" {
			t.Fatalf("second run applied %+v", a)
		}
	}
	if len(res2.Changes) != 0 {
		t.Fatalf("second run changed config: %v", res2.Changes)
	}
	r := Run(Take(opts, dir), time.Now())
	for _, f := range r.Findings {
		if strings.HasPrefix(f.CheckID, "fs.") {
			t.Errorf("fs finding remains after fix: %s", f.CheckID)
		}
	}
}

func TestFixConfigKeepsFormat(t *testing.T) {
	tests := []struct {
		name, text string
		keep       []string // must survive (comments, untouched secrets)
		gone       []string
	}{
		{"c.yaml", "# owner's notes\ngateway:\n  auth:\n    token: ${TOKEN} # from env\nlogging:\n  redactSensitive: off\nchannels:\n  whatsapp:\n    groupPolicy: open  # TODO\n  telegram:\n    groupPolicy: open\n",
			[]string{"# owner's notes", "${TOKEN}", "# from env", "# TODO", "groupPolicy: allowlist", "redactSensitive: tools"}, []string{"groupPolicy: open", "redactSensitive: off"}},
		{"quoted.yaml", "# ü first\nchannels:\n  ünïcode: {groupPolicy: 'open', dmPolicy: pairing} # flow\n  b:\n    groupPolicy: \"open\"\n",
			[]string{"# ü first", "# flow", "ünïcode: {groupPolicy: 'allowlist', dmPolicy: pairing}", `groupPolicy: "allowlist"`}, []string{"open"}},
		{"c.json", "{\n  // comment kept\n  \"gateway\": {\"auth\": {\"token\": \"${TOKEN}\"}},\n  \"logging\": {\"redactSensitive\": \"off\"},\n  \"channels\": {\"whatsapp\": {\"groupPolicy\": \"open\",},},\n}\n",
			[]string{"// comment kept", "${TOKEN}", `"groupPolicy": "allowlist"`, `"redactSensitive": "tools"`}, []string{`"open"`, `"off"`}},
		{"c.json5", "{\n  // unquoted keys, single quotes: all kept\n  gateway: {auth: {token: '${TOKEN}'}},\n  channels: {whatsapp: {groupPolicy: 'open' /* why */,},},\n}\n",
			[]string{"// unquoted keys, single quotes: all kept", "${TOKEN}", "{whatsapp: {groupPolicy: 'allowlist' /* why */,},}"}, []string{"open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, dir := build(t, tt.name, tt.text, 0o600, layout{}, 0o700)
			opts.Env = map[string]string{"TOKEN": "the-secret-token-value-0123456789"}
			res := Fix(Take(opts, dir))
			if len(res.Errors) != 0 {
				t.Fatal(res.Errors)
			}
			data, _ := os.ReadFile(opts.Path)
			out := string(data)
			for _, k := range tt.keep {
				if !strings.Contains(out, k) {
					t.Errorf("lost %q:\n%s", k, out)
				}
			}
			for _, g := range tt.gone {
				if strings.Contains(out, g) {
					t.Errorf("still has %q:\n%s", g, out)
				}
			}
			if strings.Contains(out, "the-secret-token-value") {
				t.Fatal("fix wrote a substituted secret into the file")
			}
			// The result still loads, in the same format, and a second
			// run has nothing to change.
			if s := Take(opts, dir); s.Config == nil || s.Config.Source.Format != map[bool]string{true: "yaml", false: "json5"}[strings.HasSuffix(tt.name, ".yaml")] {
				t.Fatalf("fixed config does not load: %v", s.ConfigErr)
			}
			if res2 := Fix(Take(opts, dir)); len(res2.Changes) != 0 {
				t.Fatalf("not idempotent: %v", res2.Changes)
			}
		})
	}
}

func TestFixNeverTouchesBindAuthOrSecrets(t *testing.T) {
	text := "gateway:\n  bind: lan\n  auth:\n    mode: none\n    token: short\nchannels:\n  whatsapp:\n    dmPolicy: open\n    allowFrom: ['*']\n"
	opts, dir := build(t, "c.yaml", text, 0o600, layout{}, 0o700)
	res := Fix(Take(opts, dir))
	data, _ := os.ReadFile(opts.Path)
	if string(data) != text || len(res.Changes) != 0 {
		t.Fatalf("fix changed risky settings it must leave to the owner: %v\n%s", res.Changes, data)
	}
}

func TestFixSkipsSymlinkedConfig(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "real.yaml")
	_ = os.WriteFile(target, []byte("logging:\n  redactSensitive: off\n"), 0o644)
	_ = os.Chmod(target, 0o644)
	dir := filepath.Join(root, "state")
	_ = os.Mkdir(dir, 0o700)
	link := filepath.Join(dir, "openclaw.yaml")
	_ = os.Symlink(target, link)
	res := Fix(Take(configOptions(link), dir))
	data, _ := os.ReadFile(target)
	if !strings.Contains(string(data), "off") || mode(t, target) != 0o644 {
		t.Fatalf("symlinked config was followed: %s %o", data, mode(t, target))
	}
	found := false
	for _, a := range res.Actions {
		found = found || (a.Path == link && a.Status == "skipped")
	}
	if !found {
		t.Fatalf("no skipped action for the symlink: %+v", res.Actions)
	}
}
