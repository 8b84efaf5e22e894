package integration

// docs/openclaw.md runs as written: its blocks marked <!-- recipe: agent -->
// run as OpenClaw's user (the real OpenClaw from the test cache), those
// marked <!-- recipe: gateway --> as the gateway's (this build), in the
// order the page gives them, each with `sh -e`. Before the page's
// `openclaw config` commands, `gateway openclaw check` must ask for exactly
// those commands; after them it must pass.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type recipeStep struct {
	user, script string
	line         int
}

// recipeSteps reads the marked blocks of docs/openclaw.md.
func recipeSteps(t *testing.T) []recipeStep {
	t.Helper()
	f, err := os.Open("../docs/openclaw.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []recipeStep
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	user, in, n := "", false, 0
	var cur recipeStep
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "<!-- recipe: "):
			user = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- recipe: "), " -->")
		case user != "" && !in && strings.HasPrefix(line, "```"):
			in, cur = true, recipeStep{user: user, line: n}
		case in && line == "```":
			steps = append(steps, cur)
			in, user = false, ""
		case in:
			cur.script += line + "\n"
		}
	}
	return steps
}

func TestOpenClawRecipeAsWritten(t *testing.T) {
	t.Parallel()
	node, mjs := requireOpenClaw(t)
	gw, err := buildGateway()
	if err != nil {
		t.Fatal(err)
	}
	steps := recipeSteps(t)
	if len(steps) < 3 {
		t.Fatalf("docs/openclaw.md has %d recipe blocks; the markers were lost", len(steps))
	}
	agentHome, gwHome := t.TempDir(), t.TempDir()
	stateDir := filepath.Join(gwHome, "state")
	for _, d := range []string{filepath.Join(agentHome, "tmp"), stateDir} {
		_ = os.MkdirAll(d, 0o700)
	}
	ocConfig := filepath.Join(agentHome, ".openclaw", "openclaw.json")
	check := func() (string, int) {
		cmd := exec.Command(gw, "openclaw", "check", "--openclaw-config", ocConfig)
		cmd.Env = []string{"HOME=" + gwHome, "PATH=" + os.Getenv("PATH"), "GATEWAY_STATE_DIR=" + stateDir}
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	cleanStateLocks(t)
	start := time.Now()
	for _, s := range steps {
		var prelude string
		var env []string
		switch s.user {
		case "agent":
			prelude = `openclaw() { "$NODE" "$MJS" "$@"; }` + "\n"
			env = openClawEnv(agentHome, "NODE="+node, "MJS="+mjs)
			if strings.Contains(s.script, "openclaw config set") {
				// The check asks for exactly these commands.
				out, code := check()
				if code != 1 {
					t.Fatalf("gateway openclaw check before the OpenClaw side: exit %d\n%s", code, out)
				}
				for _, l := range strings.Split(strings.TrimSpace(s.script), "\n") {
					if !strings.Contains(out, strings.TrimSpace(l)) {
						t.Errorf("docs/openclaw.md:%d has %q, which `gateway openclaw check` does not print:\n%s", s.line, l, out)
					}
				}
			}
		case "gateway":
			prelude = `gateway() { "$GW" "$@"; }` + "\n"
			env = []string{"HOME=" + gwHome, "PATH=" + os.Getenv("PATH"), "GW=" + gw, "GATEWAY_STATE_DIR=" + stateDir}
		default:
			t.Fatalf("docs/openclaw.md:%d: unknown recipe user %q", s.line, s.user)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-e", "-c", prelude+s.script)
		cmd.Dir = agentHome
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("docs/openclaw.md:%d (as %s): %v\n%s", s.line, s.user, err, out)
		}
	}
	out, code := check()
	if code != 0 || !strings.Contains(out, "OpenClaw will accept this gateway") || !strings.Contains(out, "risk  Any local process can claim a user") {
		t.Fatalf("gateway openclaw check after the recipe: exit %d\n%s", code, out)
	}
	// The gateway's starter file was born 0600: no fs.config finding.
	audit := exec.Command(gw, "security", "audit", "--openclaw-config", ocConfig)
	audit.Env = []string{"HOME=" + gwHome, "PATH=" + os.Getenv("PATH"), "GATEWAY_STATE_DIR=" + stateDir}
	aout, _ := audit.CombinedOutput()
	if strings.Contains(string(aout), "fs.config.perms") {
		t.Fatalf("the recipe's config file trips the audit:\n%s", aout)
	}
	t.Logf("the recipe ran in %v", time.Since(start).Round(time.Second))
}
