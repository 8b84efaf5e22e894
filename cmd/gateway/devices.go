package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"gateway/admin"
	"gateway/auth"
	"gateway/config"
	"gateway/policy"
	"gateway/server"
	"gateway/state"
	"gateway/store"
)

const devicesUsage = `usage: gateway devices <command> [--state-dir DIR] [--config FILE] [--json]

  list                      pending requests (with the role each asks for and
                            the client it came from) and paired devices
  approve <requestId>       pair the device of a pending request for the role
                            it asked for; a request for admin needs --role admin
  approve --latest          the same for the only pending request; refused,
                            with the list, when more than one is pending
  approve ... --role R      grant role R (operator, node or admin) instead
  reject <requestId>        drop a pending request
  revoke <deviceId>         unpair a device; its tokens stop working at once
  invite [--role R] [--ttl D]
                            issue a one-time invitation (role operator by
                            default; admin lasts at most 15m, others 24h;
                            default 10m): a device that presents its code
                            pairs at once with that role, without waiting in
                            the queue. The code is printed once, with a URL
                            that carries it in the fragment.

Works on the gateway's state while it runs: the state directory (changes
are made under a file lock) or, when the config's gateway.store is redis,
the Redis the replicas share; the gateways see a change on their next
request.
`

// stateCmd is the shared front of the `devices` and `pairing` commands:
// usage without a subcommand, and a flag set with --state-dir and --json.
type stateCmd struct {
	sub        string
	fs         *flag.FlagSet
	stateDir   *string
	configPath *string
	asJSON     *bool
}

// newStateCmd returns the command, or done=true with the exit code when
// args asked for help or were empty.
func newStateCmd(group, usage string, args []string, e *env) (c *stateCmd, rc int, done bool) {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage)
		if len(args) == 0 {
			return nil, exitUsage, true
		}
		return nil, exitOK, true
	}
	c = &stateCmd{sub: args[0], fs: flag.NewFlagSet("gateway "+group+" "+args[0], flag.ContinueOnError)}
	c.fs.SetOutput(e.stderr)
	c.fs.Usage = func() { fmt.Fprint(e.stderr, usage) }
	c.stateDir = c.fs.String("state-dir", "", "state directory; default $GATEWAY_STATE_DIR or ~/.gateway")
	c.configPath = c.fs.String("config", "", "config file, for gateway.store; default $GATEWAY_CONFIG_PATH or <state-dir>/gateway.json")
	c.asJSON = c.fs.Bool("json", false, "print JSON")
	return c, 0, false
}

// open opens the state store the configuration names: the state dir's
// files, or the Redis the replicas share, and the admin service over it. A
// configuration that does not load is an error here as in `gateway run`:
// the command never guesses where the state is.
func (c *stateCmd) open(e *env) (*admin.Service, *config.Config, func(), error) {
	dir, err := state.ResolveDir(*c.stateDir, e.getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	path, explicit := config.ResolvePath(*c.configPath, e.getenv, dir)
	cfg, err := config.Load(config.Options{Path: path, Explicit: explicit, Env: e.environ})
	if err != nil {
		return nil, nil, nil, startupError(err)
	}
	st, err := store.Open(server.StoreOptions(cfg, dir))
	if err != nil {
		return nil, nil, nil, err
	}
	svc := &admin.Service{Devices: auth.NewDeviceStore(st.Docs, nil), Pairing: policy.NewStoreOn(st.Docs, nil)}
	return svc, cfg, func() { _ = st.Close() }, nil
}

// parse parses the flags after the subcommand (they may follow the
// positional arguments); boolFlags names the flags that take no value.
func (c *stateCmd) parse(args []string, boolFlags ...string) (rc int, ok bool) {
	bools := map[string]bool{"json": true}
	for _, b := range boolFlags {
		bools[b] = true
	}
	return parseFlags(c.fs, reorder(args, bools))
}

func devicesCmd(args []string, e *env) int {
	c, rc, done := newStateCmd("devices", devicesUsage, args, e)
	if done {
		return rc
	}
	sub, fs, asJSON := c.sub, c.fs, c.asJSON
	latest := fs.Bool("latest", false, "approve the only pending request (refused when several are pending)")
	role := fs.String("role", "", "approve (or invite) for this role (operator, node, admin); required to grant admin")
	ttl := fs.Duration("ttl", admin.DefaultInviteTTL, "how long an invitation lasts (at most 24h; 15m for admin)")
	if rc, ok := c.parse(args[1:], "latest"); !ok {
		return rc
	}
	svc, cfg, closeStore, err := c.open(e)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arg := fs.Arg(0)
	const cli = admin.Who("cli")
	switch sub {
	case "list":
		return listDevices(e, svc.Devices, *asJSON)
	case "approve":
		if (arg == "") == !*latest {
			fmt.Fprint(e.stderr, "gateway devices approve: give a requestId or --latest\n")
			return exitUsage
		}
		dev, err := svc.ApproveDevice(ctx, admin.DeviceApproval{RequestID: arg, Latest: *latest, Role: *role}, cli)
		if err != nil {
			return approveFailed(e, err)
		}
		fmt.Fprintf(e.stdout, "approved device %s (role %s); it can connect now\n", dev.DeviceID, dev.Role)
		return exitOK
	case "reject":
		if arg == "" {
			fmt.Fprint(e.stderr, "gateway devices reject: give a requestId\n")
			return exitUsage
		}
		if err := svc.RejectDevice(ctx, arg); err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stdout, "rejected request %s\n", arg)
		return exitOK
	case "revoke":
		if arg == "" {
			fmt.Fprint(e.stderr, "gateway devices revoke: give a deviceId\n")
			return exitUsage
		}
		if err := svc.RevokeDevice(ctx, arg); err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stdout, "revoked device %s\n", arg)
		return exitOK
	case "invite":
		inv, err := svc.InviteDevice(ctx, *role, *ttl, true, cli)
		if err != nil {
			return fail(e, err)
		}
		url := invitationURL(cfg) + "/auth/device/pair#code=" + inv.Code
		if *asJSON {
			return printJSON(e, map[string]any{"code": inv.Code, "role": inv.Role, "expiresAt": inv.ExpiresAt, "url": url})
		}
		fmt.Fprintf(e.stdout, "invitation for role %s, valid until %s, usable once:\n\n    code: %s\n    url:  %s\n\n"+
			"The device connects with POST /auth/device/connect and \"invite\": \"<code>\" (signed with its own key, for role %s).\n",
			inv.Role, inv.ExpiresAt.Local().Format(time.RFC3339), inv.Code, url, inv.Role)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "gateway devices: unknown command %q\n\n%s", sub, devicesUsage)
	return exitUsage
}

func listDevices(e *env, store *auth.DeviceStore, asJSON bool) int {
	pending, err := store.Pending()
	if err != nil {
		return fail(e, err)
	}
	paired, err := store.Paired(context.Background())
	if err != nil {
		return fail(e, err)
	}
	if asJSON {
		if pending == nil {
			pending = []auth.PendingRequest{}
		}
		return printJSON(e, map[string]any{"pending": pending, "paired": paired})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PENDING\tREQUEST\tDEVICE\tREQUESTED ROLE\tCLIENT\tVIA PROXY\tAGE")
	for _, p := range pending {
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%v\t%s\n", p.RequestID, short(p.DeviceID), p.Role, p.Client, p.ViaProxy,
			time.Since(time.UnixMilli(p.CreatedAtMs)).Round(time.Second))
	}
	fmt.Fprintln(tw, "PAIRED\tDEVICE\tROLE\tAPPROVED\tBY")
	for _, p := range paired {
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\n", p.DeviceID, p.Role, time.UnixMilli(p.ApprovedAtMs).UTC().Format(time.RFC3339), p.ApprovedBy)
	}
	_ = tw.Flush()
	return exitOK
}

// approveFailed explains a refused approval: several requests pending for
// --latest (listed), or an admin grant without --role admin.
func approveFailed(e *env, err error) int {
	var amb *auth.AmbiguousError
	switch {
	case errors.As(err, &amb):
		fmt.Fprintf(e.stderr, "gateway devices approve --latest: %d requests are pending; approve one by its requestId:\n", len(amb.Pending))
		for _, p := range amb.Pending {
			fmt.Fprintf(e.stderr, "  %s  device %s  role %s  from %s\n", p.RequestID, short(p.DeviceID), p.Role, p.Client)
		}
		return exitFailure
	case errors.Is(err, auth.ErrAdminNotConfirmed):
		fmt.Fprintln(e.stderr, "error: the request asks for the admin role; run again with --role admin to grant it (or --role operator)")
		return exitFailure
	}
	return fail(e, err)
}

// reorder moves flags after positional arguments to the front, so
// "approve abc --state-dir x" works like "approve --state-dir x abc".
func reorder(args []string, boolFlags map[string]bool) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !boolFlags[name] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

// invitationURL is the agent's address for invitations: gateway.publicUrl,
// else its loopback listener.
func invitationURL(cfg *config.Config) string {
	if cfg.Typed.PublicURL != nil {
		return cfg.Typed.PublicURL.String()
	}
	return "http://" + cfg.Typed.ListenAddr
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

func fail(e *env, err error) int {
	fmt.Fprintln(e.stderr, "error:", err)
	return exitFailure
}

func printJSON(e *env, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(e, err)
	}
	return exitOK
}
