package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

func TestLocalServer(t *testing.T) {
	for server, want := range map[string]bool{
		"":                         true,
		"http://127.0.0.1:5000":    true,
		"127.0.0.1:5000":           true,
		"http://localhost:5000":    true,
		"https://LOCALHOST":        true,
		"https://[::1]:8443":       true,
		"http://127.0.0.2:5000":    true,
		"http://example.com:5000":  false,
		"http://8.8.8.8:5000":      false,
		"http://localhost.evil.io": false,
		"http://127.0.0.1.nip.io":  false,
		"http://%zz":               false,
	} {
		if got := localServer(server); got != want {
			t.Errorf("localServer(%q) = %v, want %v", server, got, want)
		}
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("posd.db.token", []byte("posd_1_default\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.token")
	if err := os.WriteFile(other, []byte("posd_2_other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantToken string
	}{
		{"default file, local server", nil, []string{"--server", "http://127.0.0.1:5000"}, "posd_1_default"},
		{"default file, default server", nil, nil, "posd_1_default"},
		{"default file never goes to another machine", nil, []string{"--server", "http://203.0.113.9:5000"}, ""},
		{"nor to a host name", nil, []string{"--server", "https://posd.example"}, ""},
		{"explicit file goes anywhere", nil, []string{"--server", "http://203.0.113.9:5000", "--token-file", other}, "posd_2_other"},
		{"env file goes anywhere", map[string]string{"POSD_TOKEN_FILE": other}, []string{"--server", "http://203.0.113.9:5000"}, "posd_2_other"},
		{"env token", map[string]string{"POSD_TOKEN": "posd_3_env"}, []string{"--server", "http://203.0.113.9:5000"}, "posd_3_env"},
		{"explicit file beats env token", map[string]string{"POSD_TOKEN": "posd_3_env"}, []string{"--token-file", other}, "posd_2_other"},
		{"flag beats everything", map[string]string{"POSD_TOKEN": "posd_3_env"}, []string{"--token", "posd_4_flag", "--token-file", other}, "posd_4_flag"},
		{"missing file", nil, []string{"--token-file", filepath.Join(dir, "nope")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POSD_TOKEN", "")
			t.Setenv("POSD_TOKEN_FILE", "")
			t.Setenv("POSD_SERVER", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var o clientOptions
			cmd := &cobra.Command{Use: "x"}
			o.register(cmd, false)
			if err := cmd.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := o.resolveToken(); got != tt.wantToken {
				t.Fatalf("token %q, want %q", got, tt.wantToken)
			}
		})
	}
}
