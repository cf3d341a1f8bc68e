// posd pickup board: loads the open orders, then follows the native /ws event
// stream, resuming from the last event id after every drop. Every string from
// the server goes into the page as text, never as markup.
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);
  var token = params.get('token') || '';
  var tenantParam = params.get('tenant') || '';
  var tenant = /^[1-9][0-9]{0,17}$/.test(tenantParam) ? tenantParam : '';
  // A public TV shows at most a customer's first name (names=first, the
  // default), or order numbers only (names=none; names=0 is its old spelling).
  var namesParam = params.get('names') || 'first';
  var showNames = namesParam !== 'none' && namesParam !== '0';
  var room = tenant ? 'tenant-' + tenant : 'display';
  // With a food-court-wide token a one-stall board follows the display room
  // and keeps only its stall's orders (their numbers start with its code).
  var onlyCode = '';

  // Status ranks: an order only ever moves forward, so merging a snapshot with
  // replayed events is idempotent whatever order they arrive in.
  var RANK = { pending: 0, preparing: 1, ready: 2, completed: 3, cancelled: 3 };
  var FRESH_MS = 30000;      // how long a newly ready order is highlighted
  var MAX_FRESH = 3;         // and how many at most
  // Silence before we ask the server for a sign of life, and how long we
  // wait for it: ?heartbeat=N seconds (1–300, default 25).
  var hb = parseInt(params.get('heartbeat') || '', 10);
  var PROBE_IDLE_MS = (hb >= 1 && hb <= 300 ? hb : 25) * 1000;
  var PROBE_WAIT_MS = Math.min(10000, Math.max(1000, PROBE_IDLE_MS / 2));
  var OFFLINE_AFTER_MS = 20000;
  // A list longer than the screen is shown a page at a time, each page for
  // ?page=N seconds (1–60, default 6), so every number comes round.
  var pg = parseInt(params.get('page') || '', 10);
  var PAGE_MS = (pg >= 1 && pg <= 60 ? pg : 6) * 1000;
  var MAX_GONE = 5000;

  var orders = new Map(); // id -> {id, number, name, status, readyAt}
  var gone = new Map();   // ids of completed/cancelled orders, so replays never resurrect them
  var lastId = 0;

  var sock = null;
  var generation = 0;     // bumps whenever we abandon a socket; stale callbacks check it
  var attempt = 0;
  var downSince = null;
  var lastFrame = 0;
  var probeAt = 0;
  var retryTimer = null;
  var fatal = '';

  var el = function (id) { return document.getElementById(id); };

  // ---- state -------------------------------------------------------------

  function forget(id) {
    orders.delete(id);
    gone.set(id, true);
    if (gone.size > MAX_GONE) {
      var first = gone.keys().next().value;
      gone.delete(first);
    }
  }

  // merge applies what we know about one order, never moving it backwards.
  function merge(id, number, name, status, at) {
    if (typeof id !== 'number' || !(status in RANK) || gone.has(id)) return;
    if (onlyCode && codeOf(String(number || '')) !== onlyCode) return;
    if (RANK[status] >= 3) { forget(id); return; }
    var o = orders.get(id);
    if (!o) {
      o = { id: id, number: String(number || ('#' + id)), name: String(name || ''), status: status, readyAt: 0 };
      orders.set(id, o);
      noticeStall(o.number);
    } else if (RANK[status] < RANK[o.status]) {
      return;
    }
    if (number) o.number = String(number);
    if (name) o.name = String(name);
    if (status === 'ready' && (o.status !== 'ready' || !o.readyAt)) o.readyAt = at || Date.now();
    o.status = status;
  }

  // The server's timestamps, on this screen's clock: a TV's clock is often
  // minutes off, and "newly ready" must not depend on it.
  var skew = 0; // server clock minus ours, from the API's Date header
  function parseTime(s) {
    var t = Date.parse(s || '');
    return isNaN(t) ? 0 : t - skew;
  }

  function applyEvent(name, p) {
    if (!p || typeof p !== 'object') return;
    if (typeof p.id === 'number') {
      if (p.id <= lastId) return; // already seen (replay overlap)
      lastId = p.id;
      document.body.dataset.lastEventId = String(lastId);
    }
    var d = p.data || {};
    var at = parseTime(p.timestamp);
    switch (name) {
      case 'order:created':
        merge(d.order_id, d.order_number, d.customer_name, d.status || 'pending', at);
        break;
      case 'order:status_changed':
        merge(d.order_id, d.order_number, d.customer_name, d.new_status, at);
        break;
      case 'order:cancelled':
        if (typeof d.order_id === 'number') forget(d.order_id);
        break;
      default:
        return; // payments, QR scans, alerts: nothing to show here
    }
    render();
  }

  // ---- server ------------------------------------------------------------

  function api(path) {
    var headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(path, { headers: headers, cache: 'no-store', credentials: 'omit' }).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        var err = new Error('access refused (' + r.status + ')');
        err.fatal = true;
        throw err;
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      var date = Date.parse(r.headers.get('Date') || '');
      if (!isNaN(date)) skew = date - Date.now();
      return r.json();
    });
  }

  // load replaces the state with a fresh snapshot of the open orders; its
  // last_event_id is where the event stream picks up.
  function load() {
    var q = new URLSearchParams({ open: 'true', limit: '1000' });
    if (tenant) q.set('tenant_id', tenant);
    return api('/api/orders?' + q.toString()).then(function (body) {
      var list = Array.isArray(body) ? body : (body && body.orders) || [];
      var fresh = new Map();
      list.forEach(function (o) {
        if (!o || typeof o.id !== 'number' || !(o.status in RANK) || RANK[o.status] >= 3) return;
        if (tenant && o.tenant_id !== undefined && String(o.tenant_id) !== tenant) return;
        fresh.set(o.id, {
          id: o.id,
          number: String(o.order_number || ('#' + o.id)),
          name: String(o.customer_name || ''),
          status: o.status,
          readyAt: o.status === 'ready' ? (parseTime(o.updated_at) || Date.now()) : 0
        });
      });
      orders = fresh;
      fresh.forEach(function (o) { noticeStall(o.number); });
      gone = new Map();
      lastId = body && typeof body.last_event_id === 'number' ? body.last_event_id : 0;
      document.body.dataset.lastEventId = String(lastId);
      render();
    });
  }

  // Stalls: the order number's prefix is the stall's code; the legend tells
  // customers where to collect, and a one-stall board shows the stall's name.
  var stalls = new Map();   // code -> name
  var stallIDs = new Map(); // tenant id (string) -> code
  var stallsAt = 0;

  function loadStalls() {
    stallsAt = Date.now();
    api('/api/tenants').then(function (body) {
      var list = Array.isArray(body) ? body : (body && body.tenants) || [];
      list.forEach(function (t) {
        if (!t || !t.code || !t.name) return;
        stalls.set(String(t.code), String(t.name));
        stallIDs.set(String(t.id), String(t.code));
        if (tenant && String(t.id) === tenant) {
          el('title').textContent = String(t.name);
          document.title = String(t.name) + ' · pickup';
        }
      });
      renderLegend();
    }).catch(function () { /* a nicety; the board works without it */ });
  }

  function codeOf(number) {
    var i = number.lastIndexOf('-');
    return i > 0 ? number.slice(0, i) : '';
  }

  // noticeStall refreshes the stalls when an order names one we do not know.
  function noticeStall(number) {
    var code = codeOf(number);
    if (code && !stalls.has(code) && Date.now() - stallsAt > 60000) loadStalls();
  }

  function renderLegend() {
    var box = el('legend-items');
    while (box.firstChild) box.removeChild(box.firstChild);
    var codes = Array.from(stalls.keys()).sort();
    codes.forEach(function (code) {
      var chip = document.createElement('span');
      chip.className = 'chip';
      var c = document.createElement('b');
      c.textContent = code;
      var n = document.createElement('span');
      n.textContent = stalls.get(code);
      chip.appendChild(c);
      chip.appendChild(n);
      box.appendChild(chip);
    });
    el('legend').hidden = !!tenant || codes.length === 0;
    render();
  }

  function wsQuery() {
    var q = new URLSearchParams({ rooms: room, since: String(lastId) });
    if (token) q.set('token', token);
    return '/ws?' + q.toString();
  }

  function wsURL() {
    var proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return proto + '//' + window.location.host + wsQuery();
  }

  // diagnose asks why a socket never opened: a browser hides the status of a
  // refused handshake, but /ws answers a plain GET with the same checks, so a
  // refusal is told apart from a network failure and not retried forever.
  function diagnose(gen) {
    fetch(wsQuery(), { cache: 'no-store', credentials: 'omit' }).then(function (r) {
      if (gen !== generation) return;
      if (r.status === 403 && tenant && room !== 'display' && stalls.size > 0) {
        var code = '';
        stallIDs.forEach(function (c, id) { if (id === tenant) code = c; });
        if (code) {
          room = 'display';
          onlyCode = code;
          connect();
          return;
        }
      }
      if (r.status === 401 || r.status === 403) {
        abandon();
        if (downSince === null) downSince = Date.now();
        fatal = r.status === 401 ? 'Token refused' : 'Token may not watch ' + room;
        setConn('fatal');
        clearTimeout(retryTimer);
        retryTimer = setTimeout(start, 30000);
        return;
      }
      dropped(gen);
    }, function () {
      if (gen === generation) dropped(gen);
    });
  }

  function connect() {
    var gen = ++generation;
    var s;
    try {
      s = new WebSocket(wsURL());
    } catch (e) {
      dropped(gen);
      return;
    }
    sock = s;
    var opened = false;
    s.onopen = function () {
      if (gen !== generation) return;
      opened = true;
      downSince = null;
      lastFrame = Date.now();
      probeAt = 0;
      setConn('live');
    };
    s.onmessage = function (ev) {
      if (gen !== generation) return;
      lastFrame = Date.now();
      probeAt = 0;
      attempt = 0; // the server talks to us: back-off starts over
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (!msg || typeof msg !== 'object') return;
      if (msg.op === 'event') {
        applyEvent(msg.event, msg.payload);
      } else if (msg.op === 'error') {
        if (msg.code === 'gap') {
          resync(gen); // the log no longer reaches back to our last id
        } else if (msg.code === 'forbidden' || msg.code === 'unauthorized') {
          if (downSince === null) downSince = Date.now(); // not updating: say so
          fatal = 'Token may not watch ' + room;
          setConn('fatal');
        }
      }
    };
    s.onclose = function (ev) {
      if (gen !== generation) return;
      if (ev.code === 4009) { // events were pruned past our cursor
        resync(gen);
      } else if (ev.code === 4001) { // token revoked: say so, check back now and then
        abandon();
        if (downSince === null) downSince = Date.now();
        fatal = 'Token revoked';
        setConn('fatal');
        clearTimeout(retryTimer);
        retryTimer = setTimeout(start, 30000);
      } else if (!opened) {
        diagnose(gen);
      } else {
        dropped(gen);
      }
    };
  }

  function abandon() {
    generation++;
    if (sock) {
      try { sock.close(); } catch (e) { /* already gone */ }
      sock = null;
    }
  }

  function dropped(gen) {
    if (gen !== generation) return;
    abandon();
    if (downSince === null) downSince = Date.now();
    scheduleRetry(function () { connect(); });
  }

  function resync(gen) {
    if (gen !== undefined && gen !== generation) return;
    abandon();
    if (downSince === null) downSince = Date.now();
    setConn('connecting');
    start();
  }

  function scheduleRetry(fn) {
    attempt++;
    setConn('reconnecting');
    clearTimeout(retryTimer);
    // 0.5 s, 1 s, 2 s ... capped at 15 s, with jitter so a room of TVs does
    // not reconnect in lockstep after a server restart.
    var base = Math.min(15000, 500 * Math.pow(2, Math.min(attempt - 1, 5)));
    var delay = base / 2 + Math.random() * base / 2;
    retryTimer = setTimeout(fn, delay);
  }

  function start() {
    load().then(function () {
      fatal = '';
      connect();
    }, function (err) {
      if (downSince === null) downSince = Date.now();
      if (err && err.fatal) {
        fatal = token ? 'Token refused: open /board?token=… with a display token'
          : 'No token: open /board?token=… with a display token';
        setConn('fatal');
        clearTimeout(retryTimer);
        retryTimer = setTimeout(start, 30000);
        return;
      }
      scheduleRetry(start);
    });
  }

  // The browser answers the server's pings by itself and cannot see them, so
  // a half-open TCP connection would look live for minutes. After a quiet
  // spell we send a harmless re-join of our room; any frame in reply proves
  // the path works, silence means we reconnect.
  function watchdog() {
    var now = Date.now();
    if (sock && sock.readyState === WebSocket.OPEN) {
      if (probeAt && now - probeAt > PROBE_WAIT_MS) {
        dropped(generation);
      } else if (!probeAt && now - lastFrame > PROBE_IDLE_MS) {
        probeAt = now;
        try { sock.send(JSON.stringify({ op: 'join', room: room })); } catch (e) { dropped(generation); }
      }
    }
    if (downSince !== null && now - downSince > OFFLINE_AFTER_MS) {
      el('offline').hidden = false;
    }
  }

  // ---- view --------------------------------------------------------------

  var connState = '';
  function setConn(state) {
    connState = state;
    var c = el('conn');
    c.className = 'conn conn-' + state;
    var text;
    switch (state) {
      case 'live': text = 'Live'; break;
      case 'connecting': text = 'Connecting…'; break;
      case 'reconnecting':
        text = 'Reconnecting… (attempt ' + attempt + (downSince ? ', since ' + hhmmss(new Date(downSince)) : '') + ')';
        break;
      case 'fatal': text = fatal; break;
      default: text = state;
    }
    el('conn-text').textContent = text;
    document.body.classList.toggle('is-down', state !== 'live');
    // Refused outright: no list at all, or customers would read an empty
    // kitchen as "my order is lost". Staff see why, customers whom to ask.
    document.body.classList.toggle('is-refused', state === 'fatal');
    el('refused').hidden = state !== 'fatal';
    if (state === 'fatal') el('refused-why').textContent = text;
    if (state === 'live') el('offline').hidden = true;
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function hhmmss(d) { return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }

  function tick() {
    var d = new Date();
    el('clock').textContent = pad(d.getHours()) + ':' + pad(d.getMinutes());
    watchdog();
  }

  var tiles = new Map(); // id -> li

  function tile(o) {
    var li = tiles.get(o.id);
    if (!li) {
      li = document.createElement('li');
      li.className = 'tile';
      li.dataset.id = String(o.id);
      var num = document.createElement('span');
      num.className = 'num';
      li.appendChild(num);
      if (showNames) {
        var nm = document.createElement('span');
        nm.className = 'name';
        li.appendChild(nm);
      }
      tiles.set(o.id, li);
    }
    li.firstChild.textContent = o.number;
    li.classList.toggle('long', o.number.length > 7);
    if (showNames) li.lastChild.textContent = firstName(o.name);
    li.dataset.status = o.status;
    return li;
  }

  // firstName is the first word of a customer's name: enough for a person to
  // recognise their order, not enough to name them to the whole hall.
  function firstName(name) {
    return String(name || '').trim().split(/\s+/)[0] || '';
  }

  // place puts the wanted tiles into list in order, moving only what is out
  // of place so running animations are not restarted.
  function place(list, wanted) {
    for (var i = 0; i < wanted.length; i++) {
      var cur = list.children[i];
      if (cur !== wanted[i]) list.insertBefore(wanted[i], cur || null);
    }
    while (list.children.length > wanted.length) list.removeChild(list.lastChild);
  }

  // fit shows as many tiles as the list holds on screen; when there are more,
  // it shows them a page at a time (the pager turns every PAGE_MS) and says
  // which page this is, so a customer whose number is not in view knows it
  // will come round. Tiles are in a grid of equal cells, so the ones that fit
  // are a prefix and every page holds as many.
  var pageAt = {}; // list id -> page shown (0-based)

  function fit(list, more) {
    var n = list.children.length, i;
    for (i = 0; i < n; i++) list.children[i].hidden = false;
    more.hidden = true;
    var pages = 1, page = 0;
    if (overflow(list, false) > 0) {
      more.textContent = 'Page 99/99 · Halaman 99/99';
      more.hidden = false;
      var per = Math.max(1, n - overflow(list, false));
      pages = Math.ceil(n / per);
      page = (pageAt[list.id] || 0) % pages;
      for (i = 0; i < n; i++) list.children[i].hidden = i < page * per || i >= (page + 1) * per;
      more.textContent = 'Page ' + (page + 1) + '/' + pages + ' · Halaman ' + (page + 1) + '/' + pages;
    }
    pageAt[list.id] = page;
    list.dataset.page = String(page + 1);
    list.dataset.pages = String(pages);
    for (i = 0; i < n; i++) {
      if (!list.children[i].hidden) shrink(list.children[i].firstChild);
    }
  }

  function turnPages() {
    ['list-preparing', 'list-ready'].forEach(function (id) {
      if (el(id).dataset.pages !== '1') pageAt[id] = (pageAt[id] || 0) + 1;
    });
    render();
  }

  function overflow(list, apply) {
    var limit = list.clientHeight - (parseFloat(window.getComputedStyle(list).paddingBottom) || 0);
    var n = 0;
    for (var j = 0; j < list.children.length; j++) {
      var c = list.children[j];
      if (c.hidden || c.offsetTop + c.offsetHeight > limit + 1) {
        n++;
        if (apply) c.hidden = true;
      }
    }
    return n;
  }

  // shrink makes a long order number smaller until it fits its tile.
  function shrink(num) {
    num.style.fontSize = '';
    if (num.scrollWidth <= num.clientWidth) return;
    var size = parseFloat(window.getComputedStyle(num).fontSize);
    num.style.fontSize = Math.floor(size * num.clientWidth / num.scrollWidth * 0.97) + 'px';
  }

  function render() {
    var prep = [], ready = [];
    orders.forEach(function (o) {
      if (o.status === 'ready') ready.push(o); else prep.push(o);
    });
    prep.sort(function (a, b) { return a.id - b.id; });                        // oldest first: next out
    ready.sort(function (a, b) { return (b.readyAt - a.readyAt) || (b.id - a.id); }); // newest first
    var keep = new Set();
    var prepTiles = prep.map(function (o) { keep.add(o.id); return tile(o); });
    var now = Date.now();
    var readyTiles = ready.map(function (o, i) {
      keep.add(o.id);
      var li = tile(o);
      // Only the few newest glow: a whole wall of glowing tiles announces nothing.
      li.classList.toggle('fresh', i < MAX_FRESH && now - o.readyAt < FRESH_MS);
      return li;
    });
    prepTiles.forEach(function (li) { li.classList.remove('fresh'); });
    tiles.forEach(function (li, id) { if (!keep.has(id)) tiles.delete(id); });
    // Detach tiles that changed column before placing, so each list owns its own.
    var lp = el('list-preparing'), lr = el('list-ready');
    readyTiles.forEach(function (li) { if (li.parentNode === lp) lp.removeChild(li); });
    place(lp, prepTiles);
    place(lr, readyTiles);
    lp.classList.toggle('few', prepTiles.length <= 6);
    lr.classList.toggle('few', readyTiles.length <= 4);
    fit(lp, el('more-preparing'));
    fit(lr, el('more-ready'));
    el('count-preparing').textContent = String(prep.length);
    el('count-ready').textContent = String(ready.length);
    el('empty-preparing').hidden = prep.length > 0;
    el('empty-ready').hidden = ready.length > 0;
    document.body.dataset.lastEventId = String(lastId);
  }

  function init() {
    if (tenant) el('subtitle').textContent = 'Stall ' + tenant + ' · pengambilan pesanan';
    setConn('connecting');
    tick();
    setInterval(tick, 250);
    // Re-render now and then: fresh highlights expire, and the fit changes on resize.
    setInterval(render, 5000);
    setInterval(turnPages, PAGE_MS);
    window.addEventListener('resize', render);
    loadStalls();
    start();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
