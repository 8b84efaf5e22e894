package state

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrCorrupt marks a state file that does not parse. Stores refuse to work
// on such a file (fail closed) rather than overwrite it.
var ErrCorrupt = errors.New("state file is corrupt")

// DecodeJSON parses a state file's contents, as read by Update or
// os.ReadFile; empty data (no file yet) is the zero T. A parse failure wraps
// ErrCorrupt and names path.
func DecodeJSON[T any](data []byte, path string) (T, error) {
	var v T
	if len(data) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return v, nil
}

// EncodeJSON is the one format state files are written in: indented JSON
// with a final newline, readable with an editor and diffable.
func EncodeJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
