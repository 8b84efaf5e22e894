// Command oidcprovider runs the example OpenID provider of
// github.com/zitadel/oidc/v3 (its storage, login page and users) for the
// gateway's integration tests, as a process of its own. Unlike the
// example's own main it listens on loopback only, on PORT or a free port,
// and says "listening <port>" on stdout once it accepts connections.
//
// Environment: PORT (default: a free one), REDIRECT_URI (comma-separated
// callback URLs of the clients "web" and "api", secret "secret"), USERS_FILE (the
// example's JSON user store; default its two test users).
package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oidcprovider:", err)
		os.Exit(1)
	}
}

func run() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("PORT")))
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// The example's issuer form; "localhost" keeps the provider's
	// cookies apart from the gateway's on 127.0.0.1.
	issuer := fmt.Sprintf("http://localhost:%d/", port)
	var redirects []string
	if v := os.Getenv("REDIRECT_URI"); v != "" {
		redirects = strings.Split(v, ",")
	}
	// "web" is the gateway's client; "api" another application of the
	// same provider, whose tokens the gateway must refuse.
	storage.RegisterClients(storage.WebClient("web", "secret", redirects...), storage.WebClient("api", "secret", redirects...))
	users := storage.NewUserStore(issuer)
	if f := os.Getenv("USERS_FILE"); f != "" {
		if users, err = storage.StoreFromFile(f); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuer, storage.NewStorage(users), log, false)
	fmt.Printf("listening %d\n", port)
	return http.Serve(ln, router)
}
