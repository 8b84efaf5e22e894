// Package httperr writes the gateway's error responses: a fixed public
// message and a machine code as JSON with a 4xx/5xx status. The cause is kept
// apart for the log and never reaches the client.
package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with an HTTP meaning. Msg and Code are public; Err is
// only logged.
type Error struct {
	Status int
	Code   string
	Msg    string
	Err    error
	// Header holds extra response headers (e.g. Retry-After).
	Header http.Header
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return e.Code + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with the given public status, code and message.
func New(status int, code, msg string, cause error) *Error {
	return &Error{Status: status, Code: code, Msg: msg, Err: cause}
}

// body is the JSON error shape every endpoint uses.
type body struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Write sends err as a JSON error. Anything that is not an *Error becomes a
// 500 with a fixed message, so internals never leak.
func Write(w http.ResponseWriter, err error) {
	var he *Error
	if !errors.As(err, &he) {
		he = &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "internal error"}
	}
	for k, vs := range he.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteJSON(w, he.Status, body{Error: he.Msg, Code: he.Code})
}

// WriteJSON sends v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
