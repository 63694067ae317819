package route

import "testing"

func TestAddFlag(t *testing.T) {
	for _, tc := range []struct{ flags, add, want string }{
		{"", "DI", "DI"},
		{"-", "DI", "DI"},
		{"UT", "DI", "UT,DI"},
		{"DC", "DI", "DI,DC"},
		{"UF,URX", "DI", "UF,DI,URX"},
		{"DI,FI", "DI", "DI,FI"},
	} {
		if got := AddFlag(tc.flags, tc.add); got != tc.want {
			t.Errorf("AddFlag(%q, %q) = %q, want %q", tc.flags, tc.add, got, tc.want)
		}
	}
}
