package main

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"gateway/auth"
)

const passwordUsage = `usage: gateway password hash

Prints the argon2id hash of a password for gateway.auth.passwordHash.
On a terminal it asks for the password twice without showing it; from a
pipe it reads the first line. The password is never echoed or logged.
`

// maxPassword bounds what is read, from a terminal or a pipe.
const maxPassword = 4096

func passwordCmd(args []string, e *env) int {
	if len(args) != 1 || args[0] != "hash" {
		if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprint(e.stdout, passwordUsage)
			return exitOK
		}
		fmt.Fprint(e.stderr, passwordUsage)
		return exitUsage
	}
	var pw string
	var err error
	if isTerminal(e.stdin) {
		pw, err = promptPassword(int(e.stdin.(*os.File).Fd()), e)
	} else {
		pw, err = readPasswordLine(e)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "error:", err)
		return exitFailure
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintln(e.stdout, h)
	return exitOK
}

// promptPassword asks twice on the terminal with echo off; the prompts go
// to stderr so that stdout carries only the hash.
func promptPassword(fd int, e *env) (string, error) {
	read := func(prompt string) (string, error) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr) // the newline the user typed was not echoed
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(b) > maxPassword {
			return "", fmt.Errorf("password longer than %d bytes", maxPassword)
		}
		return string(b), nil
	}
	pw, err := read("Password: ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	again, err := read("Password (again): ")
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(pw), []byte(again)) != 1 {
		return "", errors.New("the passwords do not match; nothing was hashed")
	}
	return pw, nil
}

// readPasswordLine reads the first line of a pipe or file.
func readPasswordLine(e *env) (string, error) {
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, maxPassword), maxPassword)
	if !sc.Scan() {
		if sc.Err() != nil {
			return "", fmt.Errorf("read password: %w", sc.Err())
		}
		return "", errors.New("no password on standard input")
	}
	pw := strings.TrimRight(sc.Text(), "\r")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}
