// Package jsonhttp reads and writes the gateway's own JSON bodies: one
// strict decoder (media type, size cap, unknown fields, trailing data) and
// one writer, for every endpoint that speaks JSON.
package jsonhttp

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"gateway/httperr"
)

// MaxBody caps the gateway's own JSON endpoints.
const MaxBody = 64 << 10

// Decode reads one JSON object into dst. It requires an
// application/json body (which also keeps cross-site HTML forms from
// reaching cookie-authenticated endpoints), refuses unknown fields, wrong
// types, trailing data and bodies over the cap, each with a 4xx.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "body must be application/json", err)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return httperr.New(http.StatusRequestEntityTooLarge, "body_too_large", "request body too large", err)
		case errors.As(err, &te):
			return httperr.New(http.StatusBadRequest, "bad_request", "field "+te.Field+" has the wrong type", err)
		case errors.Is(err, io.EOF):
			return httperr.New(http.StatusBadRequest, "bad_request", "empty body", err)
		}
		return httperr.New(http.StatusBadRequest, "bad_request", "malformed JSON body", err)
	}
	if dec.More() {
		return httperr.New(http.StatusBadRequest, "bad_request", "trailing data after the JSON object", nil)
	}
	return nil
}

// Write sends v as a successful JSON response with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
