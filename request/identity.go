package request

// Identity is an authenticated caller.
type Identity struct {
	// User names the caller ("owner" for the shared token).
	User string
	// Method is how they authenticated: token, password, device,
	// trusted-proxy or none.
	Method string
	// Role is RoleAdmin for the owner; devices carry the role they were
	// approved for; trusted-proxy users outside allowUsers and the local
	// user of mode none are RoleUser.
	Role string
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
