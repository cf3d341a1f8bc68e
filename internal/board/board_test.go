package board_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posd/posd/internal/board"
)

func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	h := board.Handler()
	mux.Handle("/board", h)
	mux.Handle("/board/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/board", 200, "text/html; charset=utf-8", `<script src="/board/board.js"`},
		{"GET", "/board?token=abc&tenant=2", 200, "text/html; charset=utf-8", "Ready — please collect"},
		{"GET", "/board/", 200, "text/html; charset=utf-8", "Preparing"},
		{"GET", "/board/board.js", 200, "text/javascript; charset=utf-8", "/ws?"},
		{"GET", "/board/board.css", 200, "text/css; charset=utf-8", ".tile"},
		{"HEAD", "/board/board.css", 200, "text/css; charset=utf-8", ""},
		{"GET", "/board/nope.js", 404, "", ""},
		{"GET", "/board/static/board.js", 404, "", ""},
		{"GET", "/board/../go.mod", 404, "", ""},
		{"POST", "/board", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if got, want := resp.StatusCode, tt.status; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if tt.status != 200 {
				return
			}
			if got, want := resp.Header.Get("Content-Type"), tt.ctype; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy = %q, want script-src 'self'", csp)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

// The page must never put server text into the DOM as markup.
func TestScriptInsertsTextOnly(t *testing.T) {
	srv := httptest.NewServer(board.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/board/board.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	js, _ := io.ReadAll(resp.Body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(js), bad) {
			t.Errorf("board.js uses %s", bad)
		}
	}
}
