package board_test

// A small headless-Chromium driver over the DevTools protocol, enough to open
// the board, read its DOM and take a screenshot.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/testutil"
)

const chromiumInstall = "apt-get update && apt-get install -y chromium"

// chromiumPath finds a Chromium binary or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("POSD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("chromium is not installed; install it with: %s (or set POSD_CHROMIUM)", chromiumInstall)
	return ""
}

type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	dir  string // the profile and temporary files, removed by close
	conn *websocket.Conn

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	errs    []string // uncaught page exceptions and console errors
	closed  chan struct{}
}

type cdpMessage struct {
	ID     int64           `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

var devtoolsRE = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// One Chromium serves every test of the package, one test at a time: each
// starts on a blank page. It is killed when the tests are done.
var shared struct {
	once sync.Once
	b    *browser
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.b != nil {
		shared.b.close()
	}
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// startBrowser gives the test the shared headless Chromium at 1920×1080 on
// a blank page, launching it on first use.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromiumPath(t)
	shared.once.Do(func() { shared.b, shared.err = launchBrowser(bin) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	b := shared.b
	b.mu.Lock()
	b.t, b.errs = t, nil
	b.mu.Unlock()
	var res struct {
		ErrorText string `json:"errorText"`
	}
	b.call("Page.navigate", map[string]any{"url": "about:blank"}, &res)
	t.Cleanup(func() {
		// Leave no page running (and reconnecting) into the next test.
		_ = b.tryCall("Page.navigate", map[string]any{"url": "about:blank"}, nil)
	})
	return b
}

func launchBrowser(bin string) (*browser, error) {
	// Everything Chromium writes goes under one directory that close
	// removes: its profile, and its temporary files, which it leaves in
	// TMPDIR when killed.
	dir, err := os.MkdirTemp("", "posd-board-chromium-")
	if err != nil {
		return nil, err
	}
	profile, tmp := filepath.Join(dir, "profile"), filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--disable-extensions", "--mute-audio", "--hide-scrollbars",
		"--disable-features=Translate,MediaRouter,OptimizationHints",
		"--window-size=1920,1080", "--force-device-scale-factor=1", "--no-proxy-server",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1",
		"--remote-debugging-port=0", "about:blank")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	b := &browser{cmd: cmd, dir: dir, pending: map[int64]chan cdpMessage{}, closed: make(chan struct{})}
	fail := func(err error) (*browser, error) {
		b.close()
		return nil, err
	}

	found := make(chan string, 1)
	var logMu sync.Mutex
	var logTail []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if len(logTail) < 50 {
				logTail = append(logTail, line)
			}
			logMu.Unlock()
			if m := devtoolsRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		return fail(fmt.Errorf("chromium did not report its DevTools address; stderr:\n%s", strings.Join(logTail, "\n")))
	}

	// Find the page target and talk to it directly.
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	var pageURL string
	testutil.Await(10*time.Second, 100*time.Millisecond, func() bool {
		var targets []struct {
			Type                 string `json:"type"`
			WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
		}
		// A failed look waits for the next: the browser may still be starting.
		if resp, err := http.Get("http://" + host + "/json/list"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
				pageURL = tg.WebSocketDebuggerURL
				return true
			}
		}
		return false
	})
	if pageURL == "" {
		return fail(errors.New("chromium has no page target"))
	}
	conn, _, err := websocket.DefaultDialer.Dial(pageURL, nil)
	if err != nil {
		return fail(fmt.Errorf("attach to chromium page: %w", err))
	}
	conn.SetReadLimit(64 << 20)
	b.conn = conn
	go b.readLoop()

	for _, c := range []struct {
		method string
		params any
	}{
		{"Runtime.enable", nil},
		{"Page.enable", nil},
		{"Emulation.setDeviceMetricsOverride", map[string]any{"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false}},
	} {
		if err := b.tryCall(c.method, c.params, nil); err != nil {
			return fail(fmt.Errorf("%s: %w", c.method, err))
		}
	}
	return b, nil
}

func (b *browser) readLoop() {
	defer close(b.closed)
	for {
		var m cdpMessage
		if err := b.conn.ReadJSON(&m); err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		switch m.Method {
		case "Runtime.exceptionThrown":
			var p struct {
				ExceptionDetails struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			_ = json.Unmarshal(m.Params, &p)
			b.mu.Lock()
			b.errs = append(b.errs, "exception: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
			b.mu.Unlock()
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
				Args []struct {
					Value       any    `json:"value"`
					Description string `json:"description"`
				} `json:"args"`
			}
			_ = json.Unmarshal(m.Params, &p)
			if p.Type == "error" {
				var parts []string
				for _, a := range p.Args {
					parts = append(parts, fmt.Sprint(a.Value, a.Description))
				}
				b.mu.Lock()
				b.errs = append(b.errs, "console.error: "+strings.Join(parts, " "))
				b.mu.Unlock()
			}
		}
	}
}

// call sends one DevTools command and decodes its result into out.
func (b *browser) call(method string, params any, out any) {
	b.t.Helper()
	if err := b.tryCall(method, params, out); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
}

func (b *browser) tryCall(method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()

	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	b.writeMu.Lock()
	err := b.conn.WriteJSON(msg)
	b.writeMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return errors.New("devtools connection closed")
		}
		if m.Error != nil {
			return fmt.Errorf("devtools error %d: %s", m.Error.Code, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("no answer from chromium in 30s")
	}
}

// navigate opens url and waits for the load event's DOM to exist.
func (b *browser) navigate(url string) {
	b.t.Helper()
	var res struct {
		ErrorText string `json:"errorText"`
	}
	b.call("Page.navigate", map[string]any{"url": url}, &res)
	if res.ErrorText != "" {
		b.t.Fatalf("navigate %s: %s", url, res.ErrorText)
	}
	b.waitFor("page loaded", `document.readyState === "complete" && !!document.getElementById("conn-text")`)
}

// eval runs a JavaScript expression in the page and decodes its value.
func (b *browser) eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.tryCall("Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true,
	}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("evaluate %q: %s", expr, res.ExceptionDetails.Text)
	}
	if out != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

// waitFor polls a boolean expression until it holds; it is a wait for a
// condition, not a timing assertion, so its limit is generous.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	var lastErr error
	if testutil.Await(20*time.Second, 50*time.Millisecond, func() bool {
		var ok bool
		lastErr = b.eval(expr, &ok)
		return lastErr == nil && ok
	}) {
		return
	}
	b.screenshot("failed-" + sanitize(what))
	b.t.Fatalf("waiting for %s: condition %s never held (last error: %v); board state: %+v; page errors: %v",
		what, expr, lastErr, b.state(), b.pageErrors())
}

// boardState is what the page shows, read from the DOM.
type boardState struct {
	Preparing []string `json:"preparing"`
	Ready     []string `json:"ready"`
	Names     []string `json:"names"`
	Conn      string   `json:"conn"`
	ConnClass string   `json:"connClass"`
	LastEvent string   `json:"lastEvent"`
	Offline   bool     `json:"offline"`
}

const stateJS = `(function(){
  function nums(id){ return Array.from(document.querySelectorAll('#'+id+' .tile .num')).map(function(e){return e.textContent}); }
  return {
    preparing: nums('list-preparing'),
    ready: nums('list-ready'),
    names: Array.from(document.querySelectorAll('.tile .name')).map(function(e){return e.textContent}),
    conn: document.getElementById('conn-text').textContent,
    connClass: document.getElementById('conn').className,
    lastEvent: document.body.dataset.lastEventId || '',
    offline: !document.getElementById('offline').hidden
  };
})()`

func (b *browser) state() boardState {
	var s boardState
	_ = b.eval(stateJS, &s)
	return s
}

func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// screenshot saves a PNG into $POSD_BOARD_SCREENSHOTS when that is set.
func (b *browser) screenshot(name string) {
	dir := os.Getenv("POSD_BOARD_SCREENSHOTS")
	if dir == "" {
		return
	}
	var res struct {
		Data string `json:"data"`
	}
	if err := b.tryCall("Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

func (b *browser) close() {
	if b.conn != nil {
		_ = b.conn.Close()
	}
	if b.cmd != nil && b.cmd.Process != nil {
		// The whole process group: Chromium forks renderer and GPU helpers.
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		_ = b.cmd.Wait()
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
