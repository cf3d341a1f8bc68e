// Package board serves the customer pickup board: one page for a TV facing the
// queue, with big "Preparing" and "Ready — please collect" lists that follow
// the native /ws event stream and resume after drops.
//
// The page, its stylesheet and its script are embedded in the binary; the
// page needs nothing but the posd server it came from. Its URL takes:
//
//	token=...   an API token (a display token is enough); browsers cannot
//	            set headers on a WebSocket, so it travels in the URL
//	tenant=N    one stall's orders only (room tenant-N) instead of all
//	names=X     first (default): the first word of each customer's name;
//	            none (or 0): order numbers only
//	page=N      a list longer than the screen shows a page at a time, turning
//	            every N seconds (default 6), with "Page 2/3" in its corner
//	heartbeat=N after N quiet seconds (default 25) the page asks the server
//	            for a sign of life and reconnects when none comes
//
// The page loads the open orders from GET /api/orders, follows /ws (room
// display, or tenant-N) from the last_event_id of that answer, resumes with
// since=<last id seen> after every drop, and reloads when the server reports
// a gap. A badge says Live or Reconnecting; after 20 s without the server an
// overlay says the board is not updating, so a stale screen never looks live.
// A missing or refused token fills the screen with "Not connected" at once
// and hides the lists: customers must not read an empty kitchen.
package board

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is where the board lives; Handler expects the full request path,
// so mount it for both Prefix and Prefix+"/".
const Prefix = "/board"

// csp allows only the page's own files and connections back to its origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the board at /board and its assets under /board/.
// Mount it with mux.Handle("/board", h) and mux.Handle("/board/", h).
func Handler() http.Handler {
	files := map[string][]byte{}
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		panic("board: embedded files missing: " + err.Error()) // build problem
	}
	for _, e := range entries {
		b, err := static.ReadFile("static/" + e.Name())
		if err != nil {
			panic("board: read embedded " + e.Name() + ": " + err.Error())
		}
		files[e.Name()] = b
	}
	modTime := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		switch name {
		case "", "/", "/index.html":
			name = "index.html"
		default:
			name = strings.TrimPrefix(name, "/")
			if strings.Contains(name, "/") {
				http.NotFound(w, r)
				return
			}
		}
		b, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The token travels in the page URL; never let a cache keep the page.
		h.Set("Cache-Control", "no-store")
		switch path.Ext(name) {
		case ".html":
			h.Set("Content-Type", "text/html; charset=utf-8")
		case ".css":
			h.Set("Content-Type", "text/css; charset=utf-8")
		case ".js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case ".svg":
			h.Set("Content-Type", "image/svg+xml")
		}
		http.ServeContent(w, r, name, modTime, bytes.NewReader(b))
	})
}
