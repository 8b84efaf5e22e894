package trust

import (
	"strings"
	"testing"
)

var testRoots = []string{"admin", "auth", "healthz", "readyz", "metrics", "channels"}

var pathCases = []struct {
	path         string
	names, exact bool
}{
	{"/admin/audit", true, true},
	{"/admin/", true, true},
	{"/admin", true, true},
	{"/auth/whoami", true, true},
	{"/auth/assets/style.css", true, true},
	{"/ADMIN/audit", true, false},
	{"/Admin", true, false},
	{"/%61dmin/audit", true, false},
	{"/%2561dmin/audit", true, false},
	{"/admin%2Faudit", true, false},
	{"/admin%2faudit", true, false},
	{"/admin;/audit", true, false},
	{"/admin;x", true, false},
	{"/auth%2Flogin", true, false},
	{"/auth/whoami;x", true, false},
	{"/auth/%77hoami", true, false},
	{"//admin/audit", true, false},
	{"/./admin", true, false},
	{"/x/../admin/audit", true, false},
	{"/x/..%2Fadmin", true, false},
	{"\\admin", true, false},
	{"/admin\\audit", true, false},
	{"/auth/whoami/../logout", true, false},
	{"/", false, false},
	{"/app", false, false},
	{"/administrator", false, false},
	{"/authx/y", false, false},
	{"/admin/../app", false, false},
	{"/app/admin", false, false},
	{"/%7e", false, false},
	{"*", false, false},
}

func TestNamesOwnRoute(t *testing.T) {
	for _, c := range pathCases {
		names, exact := namesOwnRoute(c.path, testRoots)
		if names != c.names || exact != c.exact {
			t.Errorf("namesOwnRoute(%q) = %v, %v; want %v, %v", c.path, names, exact, c.names, c.exact)
		}
	}
}

// FuzzNamesOwnRoute: any path is judged without a panic; a path judged an
// exact spelling of a route starts with that route literally and holds
// nothing a lenient reader rewrites; one judged not to name a route never
// starts with a route literally.
func FuzzNamesOwnRoute(f *testing.F) {
	for _, c := range pathCases {
		f.Add(c.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		names, exact := namesOwnRoute(p, testRoots)
		if exact && !names {
			t.Fatalf("%q: exact without naming a route", p)
		}
		if exact && (strings.ContainsAny(p, "%;\\") || strings.Contains(p, "//")) {
			t.Fatalf("%q: judged exact", p)
		}
		if strings.Contains(p, "..") || strings.Contains(strings.ToLower(p), "%2e") || strings.Contains(p, "%25") {
			return // "/admin/../app" reads as /app; routed to /admin's own handler anyway
		}
		for _, r := range testRoots {
			if (p == "/"+r || strings.HasPrefix(p, "/"+r+"/")) && !names {
				t.Fatalf("%q: starts with /%s but was not judged to name it", p, r)
			}
		}
	})
}
