package request

// Identity is an authenticated caller: every way in ends as one, decided
// once per request.
type Identity struct {
	// User names the caller ("owner" for the shared token and the
	// password, "device:<id>" for a device, the person's name for the
	// methods that know people).
	User string
	// Method is how this request proved itself: one of the Method
	// constants.
	Method string
	// OpenedWith is, for a session, the method it was opened with
	// (password, token, oidc); "" otherwise.
	OpenedWith string
	// Role is RoleAdmin for the owner; devices carry the role they were
	// approved for; people get theirs from gateway.users and
	// gateway.groups, recomputed on every request.
	Role string
	// Groups are the person's groups that gateway.groups or
	// gateway.users give them (never an unlisted IdP group).
	Groups []string
	// Email is the person's address when their method reports one.
	Email string
	// Scopes are the OpenClaw operator scopes a person who is not an
	// admin gets (gateway.users, else their groups'); nil means the
	// default (operator.read, operator.write), empty means none.
	Scopes []string
	// Credential names the request part that carried the gateway's secret,
	// so the outgoing request can drop exactly that and nothing else.
	Credential Credential
	// DeviceID and TokenID identify a device token's device and jti.
	DeviceID, TokenID string
	// SessionID is the stored (hashed) id of the session that
	// authenticated the request, for sign-out.
	SessionID string
}

// IsAdmin reports whether the identity is the owner.
func (id *Identity) IsAdmin() bool { return id != nil && id.Role == RoleAdmin }

// Methods: the ways in. The first four are also gateway.auth.mode's
// values (the primary method), as in OpenClaw.
const (
	MethodToken        = "token"
	MethodPassword     = "password"
	MethodTrustedProxy = "trusted-proxy"
	MethodNone         = "none"
	MethodSession      = "session"
	MethodDevice       = "device"
	MethodOIDC         = "oidc"
	MethodAssertion    = "assertion"
)

// Owner is the user name of the shared token's and the password's holder.
const Owner = "owner"

// Roles.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleNode     = "node"
	RoleUser     = "user"
)

// Credential is where a request carried the gateway's own credential.
type Credential uint8

// Credential carriers.
const (
	CredentialNone Credential = iota
	// CredentialAuthorization: Authorization: Bearer.
	CredentialAuthorization
	// CredentialProxyAuthorization: Proxy-Authorization: Bearer, used when
	// the client sends its own Authorization to the upstream.
	CredentialProxyAuthorization
	// CredentialWebSocketProtocol: a bearer.<token> Sec-WebSocket-Protocol
	// entry.
	CredentialWebSocketProtocol
	// CredentialCookie: the session cookie.
	CredentialCookie
)

func (c Credential) String() string {
	switch c {
	case CredentialAuthorization:
		return "authorization"
	case CredentialProxyAuthorization:
		return "proxy-authorization"
	case CredentialWebSocketProtocol:
		return "websocket-protocol"
	case CredentialCookie:
		return "cookie"
	}
	return ""
}
