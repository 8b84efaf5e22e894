package auth

import (
	"errors"
	"reflect"
	"testing"

	"gateway/config"
	"gateway/request"
)

// TestAdmit: who is admitted, with which role and groups, for each method
// that knows people (SPEC "People": admission and role).
func TestAdmit(t *testing.T) {
	people := config.People{
		Users: map[string]config.Person{
			"alice@example.com": {Role: "admin"},
			"bob@example.com":   {Groups: []string{"family"}},
			"carol":             {},
			"service:ci-bot":    {},
		},
		Groups: map[string]config.Group{
			"family": {Scopes: []string{"operator.read"}},
			"ops":    {Role: "admin"},
		},
		AllowedDomains: []string{"corp.example"},
	}
	tests := []struct {
		name       string
		allowUsers []string
		people     config.People
		c          claim
		wantErr    error
		wantUser   string
		wantRole   string
		wantGroups []string
	}{
		{"listed admin, email lowered", nil, people, claim{method: request.MethodOIDC, user: "Alice@Example.com"}, nil, "alice@example.com", "admin", nil},
		{"listed without role is user, with their groups", nil, people, claim{method: request.MethodOIDC, user: "bob@example.com"}, nil, "bob@example.com", "user", []string{"family"}},
		{"unlisted is not admitted", nil, people, claim{method: request.MethodOIDC, user: "mallory@example.com"}, ErrNotAdmitted, "", "", nil},
		{"admitted by a listed IdP group, role from it", nil, people, claim{method: request.MethodAssertion, user: "dave@example.com", groups: []string{"ops", "unlisted"}}, nil, "dave@example.com", "admin", []string{"ops"}},
		{"an unlisted IdP group admits nobody", nil, people, claim{method: request.MethodOIDC, user: "erin@example.com", groups: []string{"unlisted"}}, ErrNotAdmitted, "", "", nil},
		{"allowed domain (OIDC, verified email)", nil, people, claim{method: request.MethodOIDC, user: "frank@corp.example", email: "frank@corp.example"}, nil, "frank@corp.example", "user", nil},
		{"allowed domain does not admit assertions", nil, people, claim{method: request.MethodAssertion, user: "frank@corp.example", email: "frank@corp.example"}, ErrNotAdmitted, "", "", nil},
		{"owner's name refused", nil, people, claim{method: request.MethodOIDC, user: "OWNER"}, ErrReservedName, "", "", nil},
		{"a device's name refused", nil, people, claim{method: request.MethodTrustedProxy, user: "device:0123"}, ErrReservedName, "", "", nil},
		{"service: from a person's claim refused", nil, people, claim{method: request.MethodAssertion, user: "service:ci-bot"}, ErrReservedName, "", "", nil},
		{"service token named by the gateway", nil, people, claim{method: request.MethodAssertion, user: "service:ci-bot", service: true}, nil, "service:ci-bot", "user", nil},
		{"trusted proxy, no allowUsers: anyone, user", nil, config.People{}, claim{method: request.MethodTrustedProxy, user: "zed"}, nil, "zed", "user", nil},
		{"trusted proxy, legacy: allowUsers are admins while no people", []string{"zed"}, config.People{}, claim{method: request.MethodTrustedProxy, user: "zed"}, nil, "zed", "admin", nil},
		{"trusted proxy, allowUsers with people: role from people", []string{"carol"}, people, claim{method: request.MethodTrustedProxy, user: "carol"}, nil, "carol", "user", nil},
		{"trusted proxy, not in allowUsers but in users", []string{"zed"}, people, claim{method: request.MethodTrustedProxy, user: "carol"}, nil, "carol", "user", nil},
		{"trusted proxy, in neither", []string{"zed"}, people, claim{method: request.MethodTrustedProxy, user: "yan"}, ErrNotAdmitted, "", "", nil},
		{"trusted proxy groups header: only listed groups count", nil, people, claim{method: request.MethodTrustedProxy, user: "yan", groups: []string{"family", "wheel"}}, nil, "yan", "user", []string{"family"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := NewPeople(tt.people, tt.allowUsers).admit(tt.c)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.User != tt.wantUser || id.Role != tt.wantRole || !reflect.DeepEqual(id.Groups, tt.wantGroups) || id.Method != tt.c.method {
				t.Fatalf("got %+v", id)
			}
		})
	}
}
