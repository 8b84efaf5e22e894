// Package authtest plays a device in tests: an Ed25519 key pair that signs
// connect requests the way a real client does. Only tests import it.
package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"time"

	"gateway/auth"
)

// Device is a test device's key pair and id.
type Device struct {
	Pub  ed25519.PublicKey
	Priv ed25519.PrivateKey
	ID   string
}

// NewDevice generates a device.
func NewDevice() Device {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return Device{Pub: pub, Priv: priv, ID: auth.DeviceID(pub)}
}

// Connect signs a connect request for nonce and role at time at.
func (d Device) Connect(nonce, role string, at time.Time) auth.ConnectRequest {
	ms := at.UnixMilli()
	sig := ed25519.Sign(d.Priv, auth.SignedPayload(d.ID, role, ms, nonce))
	enc := base64.RawURLEncoding.EncodeToString
	return auth.ConnectRequest{DeviceID: d.ID, PublicKey: enc(d.Pub), Nonce: nonce, SignedAtMs: ms, Role: role, Signature: enc(sig)}
}
