package access

import (
	"errors"
	"strings"

	"gateway/json5"
)

// ErrToolBody is a /tools/invoke body the gateway will not guess about: it
// does not parse, or names its tool twice or in another case.
var ErrToolBody = errors.New("the body names its tool ambiguously or does not parse")

// ToolsInvokePath is OpenClaw's HTTP tool endpoint (POST only).
const ToolsInvokePath = "/tools/invoke"

// ToolOf returns the tool an OpenClaw tools.invoke input (the HTTP body, or
// a WebSocket call's params) names, folded: OpenClaw reads `name ?? tool`
// (src/gateway/tools-invoke-shared.ts), with exact keys, the last of
// repeated keys winning (JSON.parse). A repeated or case-variant name or
// tool key is refused rather than guessed; "" means no tool is named (a
// value that is not a string names none: OpenClaw then refuses the call).
func ToolOf(input *json5.Value) (string, error) {
	if input == nil || input.Kind != json5.Object {
		return "", ErrToolBody
	}
	var name, tool *json5.Value
	for _, m := range input.Members {
		k := m.Key
		switch {
		case k == "name":
			if name != nil {
				return "", ErrToolBody
			}
			name = m.Value
		case k == "tool":
			if tool != nil {
				return "", ErrToolBody
			}
			tool = m.Value
		case strings.EqualFold(k, "name"), strings.EqualFold(k, "tool"):
			return "", ErrToolBody
		}
	}
	pick := tool
	if name != nil && name.Kind != json5.Null {
		pick = name
	}
	if pick == nil || pick.Kind != json5.String {
		return "", nil
	}
	return NormalizeTool(pick.Str), nil
}

// ToolOfBody reads a /tools/invoke body.
func ToolOfBody(body []byte) (string, error) {
	v, err := json5.Parse(body)
	if err != nil {
		return "", ErrToolBody
	}
	return ToolOf(v)
}
