package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Forward auth's cost: nginx in front of the upstream with auth_request to
// the gateway's /auth/verify (the docs' snippet, trimmed to what a request
// with a signed-in SSO cookie touches), against the same nginx with no
// auth, in the same rounds. The difference in p50 and p99 is what one
// protected request pays for the gateway's answer.
const (
	forwardApp   = "app.bench.test"
	forwardAgent = "agent.bench.test"
	// The names of the two nginx targets the report compares.
	nginxPlain   = "nginx proxy_pass"
	nginxForward = "nginx + /auth/verify"
)

// forwardTarget starts a gateway protecting app.bench.test, signs in on
// the agent's host name for its SSO cookie and starts nginx with
// auth_request in front of the upstream.
func forwardTarget(tmp, upURL string) (target, func(), error) {
	gw, err := startChild(tmp, "gateway", upURL, "-forward")
	if err != nil {
		return target{}, nil, err
	}
	sso, err := signInSSO("http://" + gw.addr)
	if err != nil {
		gw.stop()
		return target{}, nil, fmt.Errorf("sign-in: %w", err)
	}
	up := strings.TrimPrefix(upURL, "http://")
	ng, err := startNginx(tmp, "nginx-forward", func(listen string) string {
		return fmt.Sprintf(`
    upstream app { server %[1]s; keepalive 128; }
    upstream gateway { server %[2]s; keepalive 128; }
    server {
        listen %[3]s;
        location = /gateway-verify {
            internal;
            proxy_pass http://gateway/auth/verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
        location / {
            auth_request /gateway-verify;
            auth_request_set $gw_user   $upstream_http_x_gateway_user;
            auth_request_set $gw_auth   $upstream_http_x_gateway_auth;
            auth_request_set $gw_role   $upstream_http_x_gateway_role;
            auth_request_set $gw_groups $upstream_http_x_gateway_groups;
            auth_request_set $gw_email  $upstream_http_x_gateway_email;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Gateway-User   $gw_user;
            proxy_set_header X-Gateway-Auth   $gw_auth;
            proxy_set_header X-Gateway-Role   $gw_role;
            proxy_set_header X-Gateway-Groups $gw_groups;
            proxy_set_header X-Gateway-Email  $gw_email;
            proxy_set_header Cookie "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
`, up, gw.addr, listen)
	})
	if err != nil {
		gw.stop()
		return target{}, nil, err
	}
	stop := func() { ng.stop(); gw.stop() }
	return target{name: nginxForward, url: "http://" + ng.addr, headers: []string{"Host: " + forwardApp, "Cookie: " + sso}, pids: []int{ng.pid(), gw.pid()}}, stop, nil
}

// signInSSO signs in with the token on the agent's host name, as a remote
// client behind the trusted proxy, and returns the SSO cookie.
func signInSSO(base string) (string, error) {
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/auth/login", strings.NewReader(`{"token":"`+benchToken+`"}`))
	req.Host = forwardAgent
	req.Header.Set("Content-Type", "application/json")
	k, v, _ := strings.Cut(remoteClient, ": ")
	req.Header.Set(k, v)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gateway_sso" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("status %d, no SSO cookie", resp.StatusCode)
}

// printForwardCost prints what /auth/verify adds to a request through
// nginx: p50 and p99 against nginx with no auth, same rounds.
func printForwardCost(results map[string][]sample, conns int) {
	plain, ok1 := results[nginxPlain]
	fwd, ok2 := results[nginxForward]
	if !ok1 || !ok2 {
		return
	}
	p, f := summarize(plain), summarize(fwd)
	fmt.Printf("\nforward auth (same run, medians, -c%d): nginx auth_request to /auth/verify against nginx with no auth\n", conns)
	fmt.Printf("  rps %.0f vs %.0f (%.2fx); added latency p50 %s, p99 %s\n", f.rps, p.rps, f.rps/p.rps,
		(f.p50 - p.p50).Round(time.Microsecond), (f.p99 - p.p99).Round(time.Microsecond))
}
