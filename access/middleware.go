package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"gateway/httperr"
	"gateway/json5"
	"gateway/request"
)

// ErrDenied is a request a rule denies.
var ErrDenied = errors.New("denied by gateway.access")

// Options configure the middleware.
type Options struct {
	// MaxBody caps the /tools/invoke body read to find its tool.
	MaxBody int64
	// Log receives the refused WebSocket calls (their request's access
	// record was written at the handshake).
	Log *slog.Logger
}

// Middleware enforces the rules on requests to the agent, after identity.
// With no rules it is the handler itself. With rules that name paths or
// tools, every request's path is read as the upstream will route it (and
// sent upstream in that form); a /tools/invoke body is read only when a
// tools rule names the identity.
func (e *Engine) Middleware(o Options) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if e.Empty() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := request.FromContext(r.Context())
			id := rec.Identity
			if id == nil {
				httperr.Write(w, r, httperr.New(http.StatusUnauthorized, "unauthorized", "authentication required", errors.New("access: no identity")))
				return
			}
			q := Request{Method: r.Method, Host: hostName(rec.Host), Path: r.URL.Path}
			if e.paths || e.tools {
				raw := r.RequestURI
				if !strings.HasPrefix(raw, "/") {
					raw = r.URL.EscapedPath()
				}
				rt, err := RoutePath(raw)
				if err != nil {
					httperr.Write(w, r, httperr.New(http.StatusBadRequest, "ambiguous_path", "this request-target can be read more than one way; send the plain path", err))
					return
				}
				q.Path, rec.UpstreamPath = rt.Match, rt.Path
			}
			tools := e.NamesTools(id)
			if tools && rec.Upgrade == request.UpgradeNone && r.Method == http.MethodPost && q.Path == ToolsInvokePath {
				tool, err := readTool(w, r, o.MaxBody)
				if err != nil {
					httperr.Write(w, r, err)
					return
				}
				q.Tool = tool
			}
			if d := e.Decide(id, &q); d.Deny {
				httperr.Write(w, r, denied(d.Rule, fmt.Errorf("%w: gateway.access[%d] denies %s %s%s for %s", ErrDenied, d.Rule, r.Method, q.Path, toolNote(q.Tool), id.User)))
				return
			}
			if tools && rec.Upgrade == request.UpgradeWebSocket {
				rec.Calls = e.calls(id, q.Host, rec.ID, o.Log)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func toolNote(tool string) string {
	if tool == "" {
		return ""
	}
	return " (tool " + tool + ")"
}

func denied(rule int, cause error) error {
	return httperr.New(http.StatusForbidden, "access_denied", fmt.Sprintf("gateway.access[%d] denies this request", rule), cause)
}

// readTool reads a /tools/invoke body up to its cap, finds the tool it
// names, and puts the body back byte for byte for the upstream.
func readTool(w http.ResponseWriter, r *http.Request, max int64) (string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return "", httperr.New(http.StatusRequestEntityTooLarge, "body_too_large", "request body too large", err)
	case err != nil:
		return "", httperr.New(http.StatusBadRequest, "bad_request", "the request body could not be read", err)
	}
	tool, err := ToolOfBody(body)
	if err != nil {
		return "", httperr.New(http.StatusBadRequest, "ambiguous_tool", "the body must be one JSON object naming its tool once, in the key name or tool", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	return tool, nil
}

// calls judges the messages a client sends on its WebSocket to OpenClaw: a
// tools.invoke request for a tool a rule denies (read as a POST of
// /tools/invoke) is answered with an RPC error instead of being forwarded.
// A message that is not JSON, or names its method, params or tool more
// than once, is refused too: OpenClaw's JSON.parse would take the last.
func (e *Engine) calls(id *request.Identity, host, reqID string, log *slog.Logger) func([]byte) []byte {
	return func(msg []byte) []byte {
		v, err := json5.Parse(msg)
		if err != nil || v.Kind != json5.Object {
			return rpcError(nil, "INVALID_REQUEST", "the gateway reads every message on this connection: send one JSON object")
		}
		var method, params, rid *json5.Value
		for _, m := range v.Members {
			switch m.Key {
			case "method":
				if method != nil {
					return rpcError(rid, "INVALID_REQUEST", "method named twice")
				}
				method = m.Value
			case "params":
				if params != nil {
					return rpcError(rid, "INVALID_REQUEST", "params given twice")
				}
				params = m.Value
			case "id":
				rid = m.Value
			}
		}
		if method == nil || method.Kind != json5.String || method.Str != "tools.invoke" {
			return nil
		}
		tool, err := ToolOf(params)
		if err != nil {
			return rpcError(rid, "INVALID_REQUEST", "tools.invoke must name its tool once")
		}
		q := Request{Method: http.MethodPost, Path: ToolsInvokePath, Host: host, Tool: tool}
		if d := e.Decide(id, &q); d.Deny {
			if log != nil {
				log.Warn("websocket call refused", slog.String("id", reqID), slog.String("user", id.User), slog.String("code", "access_denied"),
					slog.String("cause", fmt.Sprintf("gateway.access[%d] denies tools.invoke %s", d.Rule, tool)))
			}
			return rpcError(rid, "FORBIDDEN", fmt.Sprintf("access_denied: gateway.access[%d] denies this tool", d.Rule))
		}
		return nil
	}
}

// rpcError is an OpenClaw response frame refusing the request with id.
func rpcError(id *json5.Value, code, msg string) []byte {
	var rid any = "invalid"
	if id != nil && id.Kind == json5.String {
		rid = id.Str
	}
	b, _ := json.Marshal(map[string]any{"type": "res", "id": rid, "ok": false,
		"error": map[string]string{"code": code, "message": msg}})
	return b
}
