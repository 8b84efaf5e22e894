// Command gateway is the authentication gateway in front of a self-hosted
// agent: `gateway run` serves, the other commands manage and check it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"gateway/buildinfo"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `gateway: authentication gateway for a self-hosted AI agent

Usage:
  gateway [run] [flags]          start the gateway (default command)
  gateway config validate        check a configuration file
  gateway config init            write a commented starter configuration (0600)
  gateway security audit         check the configuration, state dir and (--deep) the live gateway
  gateway devices ...            list, approve, reject, revoke, invite devices
  gateway pairing ...            list, approve, reject chat pairing codes
  gateway openclaw check         say whether OpenClaw will accept this gateway (reads its config only)
  gateway password hash          hash a password (stdin) for gateway.auth.passwordHash
  gateway healthcheck            probe a running gateway's /healthz (for containers)
  gateway version                print the version, commit and Go version (also --version)
  gateway help                   show this help

Run "gateway <command> --help" for a command's flags.
`

// env is the process context a command runs in; tests supply their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        map[string]string
}

func (e *env) getenv(k string) string { return e.environ[k] }

// isTerminal reports whether w is a terminal (a generated token is shown
// only there; a password is read without echo only from one).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func main() {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: envMap(os.Environ())}
	os.Exit(dispatch(os.Args[1:], e))
}

func dispatch(args []string, e *env) int {
	if len(args) == 0 {
		return runCmd(nil, e)
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], e)
	case "config":
		if len(args) >= 2 && args[1] == "validate" {
			return validateCmd(args[2:], e)
		}
		if len(args) >= 2 && args[1] == "init" {
			return configInitCmd(args[2:], e)
		}
		fmt.Fprint(e.stderr, "usage: gateway config validate [--config FILE] [--state-dir DIR]\n       gateway config init [--openclaw] [--public-url URL] [--force]\n")
		return exitUsage
	case "healthcheck":
		return healthcheckCmd(args[1:], e)
	case "version", "--version", "-version":
		fmt.Fprintln(e.stdout, buildinfo.Get())
		return exitOK
	case "devices":
		return devicesCmd(args[1:], e)
	case "password":
		return passwordCmd(args[1:], e)
	case "pairing":
		return pairingCmd(args[1:], e)
	case "security":
		return securityCmd(args[1:], e)
	case "openclaw":
		return openclawCmd(args[1:], e)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	}
	if len(args[0]) > 0 && args[0][0] == '-' {
		return runCmd(args, e)
	}
	fmt.Fprintf(e.stderr, "gateway: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// parseFlags parses args into fs. ok is false when the command should end
// with rc: 0 after --help, 2 on a usage error (the flag package has already
// said what was wrong).
func parseFlags(fs *flag.FlagSet, args []string) (rc int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}
