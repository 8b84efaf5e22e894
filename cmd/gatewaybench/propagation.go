package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// propagationRounds is how many sign-outs each propagation pass times.
const propagationRounds = 20

// propagation times how long a sign-out on replica A takes to be refused
// by replica B (a session bearer polled on B every 200 µs), first with the
// load generator idle, then with B under the session load, and prints the
// median and the worst case of each.
func propagation(wrk string, p *redisPair, targets []target, c benchConfig) error {
	idle, err := timeSignOuts(p)
	if err != nil {
		return err
	}
	var load target
	for _, t := range targets {
		if t.name == "gw redis, "+storeLoads[1].suffix {
			load = t
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := runWrk(wrk, load, c)
		done <- err
	}()
	time.Sleep(time.Second) // let the load settle
	busy, err := timeSignOuts(p)
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	fmt.Printf("\nrevocation propagation (sign-out on replica A until replica B refuses the session, %d each):\n", propagationRounds)
	fmt.Printf("  load generator idle:          median %s, worst %s\n", idle[len(idle)/2].Round(time.Microsecond), idle[len(idle)-1].Round(time.Microsecond))
	fmt.Printf("  B under -c%d session load:    median %s, worst %s\n", c.conns, busy[len(busy)/2].Round(time.Microsecond), busy[len(busy)-1].Round(time.Microsecond))
	return nil
}

// timeSignOuts signs in on A, waits until B takes the session, signs out
// on A and polls B until it refuses; sorted durations.
func timeSignOuts(p *redisPair) ([]time.Duration, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	status := func(method, base, path, bearer, body string) (int, []byte, error) {
		req, _ := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		k, v, _ := strings.Cut(remoteClient, ": ")
		req.Header.Set(k, v)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, b, nil
	}
	// untilB polls replica B with the session every so often until it
	// answers want, for at most 5 s, and says how long that took.
	untilB := func(tok string, want int, every time.Duration) (time.Duration, error) {
		start := time.Now()
		for {
			code, _, err := status("GET", p.b, "/bench", tok, "")
			if err != nil {
				return 0, err
			}
			if code == want {
				return time.Since(start), nil
			}
			if time.Since(start) > 5*time.Second {
				return 0, fmt.Errorf("replica B still answers %d, not %d, after 5 s", code, want)
			}
			time.Sleep(every)
		}
	}
	var out []time.Duration
	for range propagationRounds {
		code, b, err := status("POST", p.a, "/auth/login", "", `{"token":"`+benchToken+`"}`)
		if err != nil || code != 200 {
			return nil, fmt.Errorf("sign-in on A: %d %v", code, err)
		}
		var lr struct{ Token string }
		_ = json.Unmarshal(b, &lr)
		if _, err := untilB(lr.Token, 200, time.Millisecond); err != nil {
			return nil, fmt.Errorf("before the sign-out: %w", err)
		}
		if code, _, err := status("POST", p.a, "/auth/logout", lr.Token, ""); err != nil || code != 200 {
			return nil, fmt.Errorf("sign-out on A: %d %v", code, err)
		}
		took, err := untilB(lr.Token, 401, 200*time.Microsecond)
		if err != nil {
			return nil, fmt.Errorf("after the sign-out: %w", err)
		}
		out = append(out, took)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
