package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

const pairingUsage = `usage: gateway pairing <command> <channel> [code] [--state-dir DIR] [--config FILE] [--json]

  list <channel>              pending pairing codes and approved senders
  approve <channel> <code>    let the sender of code message the agent (case-insensitive, idempotent)
  reject <channel> <code>     drop a pending code

Works on the gateway's state while it runs: the state directory (file lock),
or the Redis the replicas share when the config's gateway.store is redis.
`

func pairingCmd(args []string, e *env) int {
	c, rc, done := newStateCmd("pairing", pairingUsage, args, e)
	if done {
		return rc
	}
	sub, fs, asJSON := c.sub, c.fs, c.asJSON
	if rc, ok := c.parse(args[1:]); !ok {
		return rc
	}
	want := map[string]int{"list": 1, "approve": 2, "reject": 2}
	n, ok := want[sub]
	if !ok || fs.NArg() != n {
		fmt.Fprint(e.stderr, pairingUsage)
		return exitUsage
	}
	svc, _, closeStore, err := c.open(e)
	if err != nil {
		return fail(e, err)
	}
	defer closeStore()
	store := svc.Pairing
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch := fs.Arg(0)
	switch sub {
	case "list":
		pending, err := store.Pending(ch)
		if err != nil {
			return fail(e, err)
		}
		allow, err := store.AllowFrom(ctx, ch)
		if err != nil {
			return fail(e, err)
		}
		if *asJSON {
			if allow == nil {
				allow = []string{}
			}
			return printJSON(e, map[string]any{"channel": ch, "pending": pending, "allowFrom": allow})
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tSENDER\tREQUESTED\tLAST SEEN")
		for _, p := range pending {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Code, p.ID, p.CreatedAt.Format(time.RFC3339), p.LastSeenAt.Format(time.RFC3339))
		}
		_ = tw.Flush()
		fmt.Fprintf(e.stdout, "approved senders: %d\n", len(allow))
		for _, a := range allow {
			fmt.Fprintln(e.stdout, "  "+a)
		}
		return exitOK
	case "approve":
		sender, err := svc.ApprovePairing(ctx, ch, fs.Arg(1))
		if err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stdout, "approved %s on %s\n", sender, ch)
		return exitOK
	default:
		if err := svc.RejectPairing(ctx, ch, fs.Arg(1)); err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stdout, "rejected code %s on %s\n", fs.Arg(1), ch)
		return exitOK
	}
}
