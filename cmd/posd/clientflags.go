package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
)

// clientOptions are the flags every client subcommand shares.
type clientOptions struct {
	server    string
	token     string
	tokenFile string
	ca        string
	json      bool
}

func (o *clientOptions) register(cmd *cobra.Command, withJSON bool) {
	f := cmd.Flags()
	f.StringVar(&o.server, "server", envOr("POSD_SERVER", client.DefaultServer), "posd server URL (env POSD_SERVER)")
	f.StringVar(&o.token, "token", "", "API token (env POSD_TOKEN; default: the admin token file beside the database)")
	f.StringVar(&o.tokenFile, "token-file", envOr("POSD_TOKEN_FILE", "posd.db.token"), "file holding the token when --token and POSD_TOKEN are empty (env POSD_TOKEN_FILE)")
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

// defaultToken finds the token when none was given: POSD_TOKEN, then the
// token file that posd serve writes beside its database.
func defaultToken(tokenFile string) string {
	if t := os.Getenv("POSD_TOKEN"); t != "" {
		return t
	}
	if tokenFile == "" {
		tokenFile = "posd.db.token"
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (o *clientOptions) client() (*client.Client, error) {
	tok := o.token
	if tok == "" {
		tok = defaultToken(o.tokenFile)
	}
	c, err := client.New(client.Config{Server: o.server, Token: tok, CAFile: o.ca})
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
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		code := 2
		if apiErr.Status >= 500 {
			code = 3
		}
		msg := apiErr.Message
		if apiErr.Status == http.StatusUnauthorized {
			msg += " (pass --token, set POSD_TOKEN, or run where posd serve wrote its token file)"
		}
		return &exitError{code: code, err: fmt.Errorf("%s (%d %s)", msg, apiErr.Status, apiErr.Code)}
	}
	var unreach *client.UnreachableError
	if errors.As(err, &unreach) {
		return &exitError{code: 3, err: err}
	}
	return &exitError{code: 3, err: err}
}
