package cli

import (
	"testing"
	"time"
)

func TestLockTimeout(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		err  bool
	}{
		{"", defaultLockTimeout, false},
		{"30s", 30 * time.Second, false},
		{"0", 0, false},
		{"-1s", 0, true},
		{"soon", 0, true},
	} {
		t.Run(tc.v, func(t *testing.T) {
			got, err := lockTimeout(tc.v)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("lockTimeout(%q) = %v, %v; want %v, error %v", tc.v, got, err, tc.want, tc.err)
			}
		})
	}
}
