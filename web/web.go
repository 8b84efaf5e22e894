// Package web renders the gateway's own browser pages: the sign-in page,
// the owner's console and the HTML form of error answers. Templates and the
// stylesheet are embedded; there is no JavaScript at all, so the pages work
// with a Content-Security-Policy of default-src 'self' and without script.
// It renders what it is given and decides nothing about who may see it.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

var pages = map[string]*template.Template{}

func init() {
	layout := template.Must(template.ParseFS(templateFS, "templates/layout.html"))
	for _, name := range []string{"signin", "signout", "console", "error", "status", "pair"} {
		t := template.Must(layout.Clone())
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
}

// SecurityHeaders are set on every page: no script, no framing, no
// inline anything, forms only to this origin (and to formTargets, origins
// a form's answer may redirect to).
func SecurityHeaders(h http.Header, formTargets ...string) {
	fa := "'self'"
	for _, t := range formTargets {
		fa += " " + t
	}
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action "+fa+"; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" with the page's own form posts, and a null Origin is
	// refused as another site's. Other sites still get no Referer.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render executes a page into a buffer first, so a template error never
// sends half a page.
func render(w http.ResponseWriter, name string, status int, data any, formTargets ...string) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "page unavailable", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header(), formTargets...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// SignIn is the sign-in page's data.
type SignIn struct {
	// FormTargets are origins besides this one that the form's answer
	// may redirect to (the apps forward auth protects): browsers apply
	// the CSP form-action to every redirect of a form submission.
	FormTargets []string
	// Offers are the ways in the page presents, in order.
	Offers []Offer
	// CSRF is the form's token; RD where to go after signing in.
	CSRF, RD string
	// Message is shown above the form (wrong password, locked out).
	Message string
	// Admin: this is the admin origin's sign-in (the console's).
	Admin bool
}

// Offer is one way in on the sign-in page: a form for a secret (Field
// "password" or "token"), a button to a provider (Link, Label), or a note.
type Offer struct {
	Field, Link, Label, Note string
}

// RenderSignIn writes the sign-in page with status.
func RenderSignIn(w http.ResponseWriter, status int, d SignIn) {
	render(w, "signin", status, struct {
		Title string
		SignIn
	}{"Sign in", d}, d.FormTargets...)
}

// Console is the owner's console page's data, already reduced to strings.
type Console struct {
	CSRF              string
	Flash, FlashError string
	You               You
	Audit             Audit
	DevicesOff        bool
	Pending           []PendingDevice
	Paired            []PairedDevice
	Channels          []Channel
	Sessions          []Session
	// SignOut offers the sign-out button: the person holds a session
	// (a trusted-proxy identity signs out at its proxy).
	SignOut bool
	// Unreadable names the parts whose state could not be read.
	Unreadable []string
	// Invitation is a device invitation just issued, shown this once.
	Invitation *Invitation
	// People and Groups are gateway.users and gateway.groups with what
	// they get; Rules the access rules, each as one line.
	People, Groups []Person
	Rules          []string
}

// Person is a person or group on the console: role, OpenClaw scopes, and
// the indexes of the access rules that name them.
type Person struct {
	Name, Groups, Role, Scopes, Rules string
}

// Invitation is a device invitation's code and URL, shown once.
type Invitation struct{ Code, URL, Role, Expires string }

// You is how the gateway sees the person looking at the console.
type You struct {
	User, Method, Role, Client, Peer, Chain, Proto, Host string
	ViaProxy, Local                                      bool
}

// Audit is the audit report of the running instance.
type Audit struct {
	Critical, Warn, Info int
	Findings             []Finding
}

// Finding is one audit finding.
type Finding struct {
	Severity, CheckID, Title, Detail, Fix string
	Suppressed                            bool
}

// PendingDevice is a pairing request waiting for the owner.
type PendingDevice struct {
	RequestID, DeviceID, Role, Client, Age string
	ViaProxy                               bool
}

// PairedDevice is an approved device.
type PairedDevice struct{ DeviceID, Role, ApprovedAt, ApprovedBy string }

// Channel is one chat channel's pairing state.
type Channel struct {
	Name, DMPolicy string
	Allowed        int
	Pending        []PairingCode
}

// PairingCode is a pending chat pairing code.
type PairingCode struct{ Code, From, Age string }

// Session is one signed-in session.
type Session struct {
	ID, Short, Origin, User, Created, LastSeen string
	Current                                    bool
}

// RenderConsole writes the console page.
func RenderConsole(w http.ResponseWriter, d Console) {
	render(w, "console", http.StatusOK, struct {
		Title string
		Console
	}{"Console", d})
}

// RenderStatus writes the built-in status page (no upstream configured):
// how the gateway sees the person, as on the console.
func RenderStatus(w http.ResponseWriter, you You) {
	render(w, "status", http.StatusOK, struct {
		Title string
		You
	}{"Status", you})
}

// SignOut is the sign-out page's data.
type SignOut struct {
	// SignedIn: the browser holds a session here, as User.
	SignedIn bool
	User     string
	CSRF     string
	// ProviderSignOut is the sign-in provider's own sign-out URL, for a
	// session opened with it ("" otherwise).
	ProviderSignOut string
	// RD is where to go after signing out (an app forward auth
	// protects), and FormTargets the origins it may be on (CSP
	// form-action).
	RD          string
	FormTargets []string
}

// RenderSignOut writes the sign-out page: a form that posts the sign-out
// (a GET never changes anything).
func RenderSignOut(w http.ResponseWriter, d SignOut) {
	render(w, "signout", http.StatusOK, struct {
		Title string
		SignOut
	}{"Sign out", d}, d.FormTargets...)
}

// RenderPair writes the page a device invitation's URL opens: what it is,
// without the code (which stays in the fragment).
func RenderPair(w http.ResponseWriter) {
	render(w, "pair", http.StatusOK, struct{ Title string }{"Device invitation"})
}

// errorAdvice says what to do about the refusals a browser can meet.
var errorAdvice = map[string]struct{ heading, advice string }{
	"host_not_allowed": {"This name is not served here",
		"If this is the name of your gateway, its owner adds it to gateway.allowedHosts. A page on another name that points at this machine is refused on purpose: it could be a DNS rebinding attack."},
	"untrusted_proxy": {"A proxy the gateway does not trust",
		"The request came through a proxy on the gateway's host that is not in gateway.trustedProxies. The owner adds the address the proxy connects from."},
	"rate_limited": {"Too many failed attempts",
		"Sign-ins from your address are paused after too many wrong credentials. Wait, then try again."},
	"bad_gateway": {"The agent is not answering",
		"The gateway works, but the agent behind it does not answer. Try again in a moment; if it persists, the owner checks that the agent is running."},
	"upstream_unreachable": {"The agent is not reachable",
		"The gateway works, but it cannot reach the agent behind it. The owner checks that the agent is running."},
	"store_unavailable": {"The gateway's state store is unavailable",
		"Sessions and sign-ins need the shared store, which is not answering. Try again in a moment."},
	"forbidden": {"Not for this account",
		"This page is for the gateway's owner."},
	"admin_elsewhere": {"The console has its own address",
		"The agent's pages (and anything the agent writes) are served here, so the gateway's console never answers a browser on this address. Open the console's own address, given above."},
	"not_admitted": {"You are not on this gateway's list",
		"Your sign-in worked, but the gateway's owner has not added you. Ask them to add the name above to gateway.users (or your group to gateway.groups); then sign in again. To use another account, sign out at your provider first."},
	"reserved_name": {"This name cannot be used here",
		"Names like owner, and names with a colon, belong to the gateway itself. Sign in with another account."},
	"oidc_state": {"This sign-in link has expired",
		"A sign-in is finished once, in the browser that started it, within ten minutes. Start again from the sign-in page."},
	"oidc_token": {"The sign-in could not be verified",
		"The answer from the sign-in provider failed the gateway's checks. Start again from the sign-in page; if it keeps happening, the owner checks gateway.auth.oidc."},
	"oidc_claims": {"The sign-in provider did not say who you are",
		"The owner checks gateway.auth.oidc.userClaim and the scopes the gateway asks for."},
	"oidc_email_unverified": {"Your email address is not verified",
		"Verify your email address with the sign-in provider, then sign in again."},
	"oidc_refused":     {"The sign-in provider did not sign you in", "Start again from the sign-in page."},
	"oidc_unavailable": {"The sign-in provider is not answering", "Try again in a moment."},
	"invalid_assertion": {"The access proxy's identity was refused",
		"The signed identity the proxy in front sent failed the gateway's checks. Sign in at the proxy again; if it keeps happening, the owner checks gateway.auth.assertion."},
	"assertion_required": {"Sign in at the access proxy first", "This gateway is reached through an access proxy, which did not say who you are."},
	"not_found":          {"Not found", ""},
	"origin_not_allowed": {"A page of another site", "The request came from a page the gateway does not serve."},
}

// ErrorPage is the HTML form of an error answer, for the request record's
// Page (every refusal a browser navigation meets becomes a page). It shows
// only the public message and code, never the cause.
func ErrorPage(w http.ResponseWriter, status int, code, msg string) {
	a, ok := errorAdvice[code]
	if !ok {
		a.heading = http.StatusText(status)
	}
	if code == "rate_limited" {
		if s := w.Header().Get("Retry-After"); s != "" {
			a.advice = "Sign-ins from your address are paused after too many wrong credentials. Try again in " + humanSeconds(s) + "."
		}
	}
	render(w, "error", status, struct {
		Title, Heading, Message, Advice, Code string
		Status                                int
	}{a.heading, a.heading, msg, a.advice, code, status})
}

// humanSeconds turns a Retry-After value into words.
func humanSeconds(s string) string {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n < 1:
		return "a moment"
	case n < 90:
		return strconv.Itoa(n) + " seconds"
	}
	return strconv.Itoa((n+59)/60) + " minutes"
}

// HumanSeconds is humanSeconds for the sign-in page's lockout message.
func HumanSeconds(n int) string { return humanSeconds(strconv.Itoa(n)) }

// Assets serves the embedded stylesheet under /auth/assets/, to anyone:
// it holds nothing private.
func Assets() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	fsrv := http.StripPrefix("/auth/assets/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	})
}
