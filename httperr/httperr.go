// Package httperr turns a refusal into the response the client sees and the
// cause the log sees: a fixed public message and a machine code with a 4xx or
// 5xx status, as JSON (or, for a browser navigation, through the page
// renderer the server puts in the request's record). The cause is recorded in the request's
// record for its one access-log line and never reaches the client.
package httperr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"gateway/request"
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

// Body is the JSON error shape every endpoint uses.
type Body struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Answered is an error of another package that knows its public answer
// (the state store's "unavailable" is a 503 wherever it surfaces), without
// that package depending on this one.
type Answered interface {
	error
	HTTPAnswer() (status int, code, msg string)
}

// StatusClientGone is nginx's 499: the client closed the connection
// before the answer.
const StatusClientGone = 499

// Public returns the *Error a client sees for err: err itself when it is
// one, the answer of an Answered error in its chain, otherwise a 500 with a
// fixed message, so internals never leak.
func Public(err error) *Error {
	if errors.Is(err, context.Canceled) {
		// The client went away while we were working for it (a store
		// round trip on its context): nobody reads the answer, and the
		// access record should say so rather than blame the store.
		return &Error{Status: StatusClientGone, Code: "client_gone", Msg: "the client closed the request", Err: err}
	}
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	var a Answered
	if errors.As(err, &a) {
		status, code, msg := a.HTTPAnswer()
		return &Error{Status: status, Code: code, Msg: msg, Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "internal error", Err: err}
}

// Write answers r with err and records err as the request's cause.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	he := Public(err)
	rec := request.FromContext(r.Context())
	if rec != nil {
		rec.Cause = err
	}
	for k, vs := range he.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if rec != nil && rec.Navigation && rec.Page != nil {
		rec.Page(w, he.Status, he.Code, he.Msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(he.Status)
	_ = json.NewEncoder(w).Encode(Body{Error: he.Msg, Code: he.Code})
}
