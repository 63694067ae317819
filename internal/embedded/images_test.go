package embedded

import "testing"

func TestImageMap(t *testing.T) {
	m, err := NewImageMap([]string{"registry.example.com/shop/order:2.0=./order --port $PORT", "payment=java -jar payment.jar"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		image, want string
		ok          bool
	}{
		{"swr.cn-north-4.myhuaweicloud.com/hjmtest/go-http-sample:1.0", BuiltinSample, true},
		{"graylane/sample:latest", BuiltinSample, true},
		{"registry.example.com/shop/order:2.0", "./order --port $PORT", true},
		{"registry.example.com/shop/payment:1.3@sha256:abc", "java -jar payment.jar", true},
		{"nginx:1.25", "", false},
	}
	for _, tc := range tests {
		got, ok := m.Lookup(tc.image)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q %v, want %q %v", tc.image, got, ok, tc.want, tc.ok)
		}
	}
	if _, err := NewImageMap([]string{"noequals"}); err == nil {
		t.Error("want an error for a spec without =")
	}
}
