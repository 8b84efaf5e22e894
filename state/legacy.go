package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// legacyFiles are files earlier versions of this gateway created in
// OpenClaw's ~/.openclaw, relative to it. They are ours beyond doubt (OpenClaw
// has no such files); pairing and device files are not listed because
// OpenClaw keeps files of the same names.
var legacyFiles = []string{
	"credentials/gateway-token",
	"credentials/gateway-sessions.json",
	"identity/device-token-keys.json",
}

// LegacyNotice returns, on the first start with the default state directory
// (no --state-dir, no GATEWAY_STATE_DIR, no ~/.gateway yet), a message
// naming the files an earlier version left in ~/.openclaw and the commands
// that move them; otherwise "". It never moves, changes or deletes anything
// in ~/.openclaw: that directory is OpenClaw's.
func LegacyNotice(flagValue string, getenv func(string) string) string {
	if flagValue != "" || getenv(EnvStateDir) != "" {
		return ""
	}
	home := getenv("HOME")
	if home == "" {
		return ""
	}
	dir := filepath.Join(home, DefaultDirName)
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	old := filepath.Join(home, ".openclaw")
	var found []string
	for _, rel := range legacyFiles {
		if fi, err := os.Lstat(filepath.Join(old, rel)); err == nil && fi.Mode().IsRegular() {
			found = append(found, rel)
		}
	}
	if len(found) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("an earlier version of this gateway kept its state in " + old + "; it now uses " + dir +
		" and never writes in OpenClaw's directory. To keep your token, sessions and device keys, stop the gateway and run:\n")
	b.WriteString("  mkdir -p -m 700 " + dir + "/credentials " + dir + "/identity\n")
	for _, rel := range found {
		b.WriteString("  mv " + filepath.Join(old, rel) + " " + filepath.Join(dir, rel) + "\n")
	}
	return b.String()
}
