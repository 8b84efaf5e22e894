package percent

import "testing"

func TestDecode(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/plain", "/plain"},
		{"/a%2Fb", "/a/b"},
		{"/%2e%2E/x", "/../x"},
		{"/bad%zz%4", "/bad%zz%4"},
		{"%", "%"},
		{"%41%", "A%"},
	} {
		if got := Decode(tt.in); got != tt.want {
			t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if d, ok := At("x%7f", 1); !ok || d != 0x7f {
		t.Errorf("At: %x %v", d, ok)
	}
	if _, ok := At("x%7", 1); ok {
		t.Error("a short escape accepted")
	}
}
