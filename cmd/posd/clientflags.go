package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/server"
)

// clientOptions are the flags every client subcommand shares.
type clientOptions struct {
	server    string
	token     string
	tokenFile string
	ca        string
	json      bool
	flags     *pflag.FlagSet
}

func (o *clientOptions) register(cmd *cobra.Command, withJSON bool) {
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.server, "server", envOr("POSD_SERVER", client.DefaultServer), "posd server URL (env POSD_SERVER)")
	f.StringVar(&o.token, "token", "", "API token (env POSD_TOKEN, which keeps it out of the process list; default: ./posd.db.token for a server on this machine)")
	f.StringVar(&o.tokenFile, "token-file", envOr("POSD_TOKEN_FILE", server.DefaultTokenFile), "file holding the token when --token is empty (env POSD_TOKEN_FILE)")
	f.StringVar(&o.ca, "ca", "", "PEM file of a private certificate authority for https:// servers")
	if withJSON {
		f.BoolVar(&o.json, "json", false, "print JSON instead of human-readable output")
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// resolveToken picks the token: --token, then an explicit --token-file,
// then POSD_TOKEN, then POSD_TOKEN_FILE, then the admin token file that posd
// serve writes beside its database (./posd.db.token). That last, implicit
// one is an admin token for the server on this machine: it is sent only to
// a server on this machine, never to whatever --server happens to name.
func (o *clientOptions) resolveToken() string {
	if o.token != "" {
		return strings.TrimSpace(o.token)
	}
	explicitFile := o.flags != nil && o.flags.Changed("token-file")
	if explicitFile {
		return readTokenFile(o.tokenFile)
	}
	if t := os.Getenv("POSD_TOKEN"); t != "" {
		return strings.TrimSpace(t)
	}
	if os.Getenv("POSD_TOKEN_FILE") != "" {
		return readTokenFile(o.tokenFile)
	}
	if !localServer(o.server) {
		return ""
	}
	return readTokenFile(o.tokenFile)
}

// defaultToken is POSD_TOKEN, else the token in tokenFile (posd serve --demo
// uses it for the server it runs itself).
func defaultToken(tokenFile string) string {
	if t := os.Getenv("POSD_TOKEN"); t != "" {
		return strings.TrimSpace(t)
	}
	return readTokenFile(tokenFile)
}

func readTokenFile(path string) string {
	if path == "" {
		path = server.DefaultTokenFile
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// localServer reports whether server (a URL or host:port) names this
// machine: localhost, a loopback address or an address of a local interface.
func localServer(server string) bool {
	if server == "" {
		return true // the default, 127.0.0.1:5000
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

func (o *clientOptions) client() (*client.Client, error) {
	c, err := client.New(client.Config{Server: o.server, Token: o.resolveToken(), CAFile: o.ca})
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return c, nil
}

// apiFailure gives a client error its exit code and a one-line message:
// 2 when the server refused the request, 3 when it could not be reached or failed.
func apiFailure(err error) error {
	if err == nil {
		return nil
	}
	var done *exitError
	if errors.As(err, &done) {
		return err // decided on the client's side, with its own exit code
	}
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		code := 2
		if apiErr.Status >= 500 {
			code = 3
		}
		msg := apiErr.Message
		if w := apiErr.Words(); w != "" {
			msg = w // a sentence for the person at the counter, not field names
		}
		if apiErr.Status == http.StatusUnauthorized {
			msg += " (pass --token, set POSD_TOKEN, or run where posd serve wrote its token file)"
		}
		return &exitError{code: code, err: fmt.Errorf("%s (%d %s)", msg, apiErr.Status, apiErr.Code), cause: apiErr}
	}
	var unreach *client.UnreachableError
	if errors.As(err, &unreach) {
		return &exitError{code: 3, err: err}
	}
	return &exitError{code: 3, err: err}
}
