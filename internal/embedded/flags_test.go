package embedded

import "testing"

func TestWithFlag(t *testing.T) {
	for _, tc := range []struct{ flags, add, want string }{
		{"", "DI", "DI"},
		{"-", "DI", "DI"},
		{"UT", "DI", "UT,DI"},
		{"DC", "DI", "DI,DC"},
		{"UF,URX", "DI", "UF,DI,URX"},
		{"DI,FI", "DI", "DI,FI"},
	} {
		if got := withFlag(tc.flags, tc.add); got != tc.want {
			t.Errorf("withFlag(%q, %q) = %q, want %q", tc.flags, tc.add, got, tc.want)
		}
	}
}
