package edge

import "testing"

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.2:5431":           "127.0.0.2",
		"127.0.0.2":                "127.0.0.2",
		"[::ffff:10.1.2.3]:80":     "10.1.2.3",
		"[2001:db8:1:2:3:4:5:6]:9": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:9": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":        "fe80::/64",
		"not-an-address":           "not-an-address",
		"[2001:db8:1:3::1]:1":      "2001:db8:1:3::/64",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
