/* Loopvan driver tablet (progressive web app).
 *
 * Pairing: /driver#token=lvd_... once; the token goes to localStorage and leaves the URL.
 * Route:   GET /api/v1/driver/route (Bearer token, If-None-Match); the last one is kept in
 *          localStorage (and by the service worker), so the page works with no network.
 * Events:  recorded into a local queue (localStorage) with a client-made event_id, then
 *          POSTed to /api/v1/driver/events by a sync loop (on record, when the browser
 *          comes online, every 15 s, with back-off). The API is idempotent by event_id,
 *          so a resend after a lost answer stores nothing twice.
 */
(function () {
  "use strict";

  const CFG = JSON.parse(document.getElementById("lv-config").textContent);
  const KEY = {
    token: "lv.driver.token",
    route: "lv.driver.route",
    events: "lv.driver.events",
    ack: "lv.driver.ackVersion",
    names: "lv.driver.prevNames",
  };
  const DATA_CACHE = "loopvan-driver-data"; // the service worker's route cache
  const MAT = {};
  CFG.materials.forEach((m) => { MAT[m.key] = m; });
  const KIND = {
    pickup: ["上门回收", "Pickup"],
    station: ["回收点", "Collection point"],
    unload: ["中转站卸货", "Unload"],
    break: ["休息", "Break"],
    depot: ["车队基地", "Depot"],
  };
  const EVENT_NAMES = {
    arrived: ["到达", "arrived"],
    collected: ["收运", "collected"],
    skipped: ["跳过", "skipped"],
    unloaded: ["卸货", "unloaded"],
    break: ["休息", "break"],
  };
  const SKIP_REASONS = [
    ["无人在家", "No one home"],
    ["找不到地址", "Address not found"],
    ["物品与预约不符", "Items not as booked"],
    ["无法进入 / 道路不通", "No access / road blocked"],
    ["车辆已满", "Van full"],
    ["居民取消", "Resident cancelled"],
  ];
  const BATCH = 100;
  const TICK_MS = 15000;

  // --- storage ------------------------------------------------------------------------

  function load(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }
  function store(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      toast("存储已满，无法保存 · Storage full, not saved");
    }
  }
  function events() { return load(KEY.events, []); }
  function saveEvents(list) { store(KEY.events, list); }

  // --- small helpers ------------------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) return;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    kids.flat().forEach((kid) => {
      if (kid === null || kid === undefined || kid === false) return;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    });
    return node;
  }
  function bi(zh, en, cls) {
    return el("span", { class: cls || "bi" }, el("b", {}, zh), " ", el("small", {}, en));
  }
  function setBi(node, zh, en) {
    node.replaceChildren(el("b", {}, zh), el("small", {}, en));
  }
  const $ = (id) => document.getElementById(id);
  const pad = (n) => String(n).padStart(2, "0");

  function newEventId() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "lv-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  /** Now as ISO-8601 with the tablet's UTC offset (the API refuses times without one). */
  function isoNow(d) {
    d = d || new Date();
    const off = -d.getTimezoneOffset();
    const a = Math.abs(off);
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
      `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
      `${off >= 0 ? "+" : "-"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`
    );
  }
  const hhmmIso = (iso) => (iso ? String(iso).slice(11, 16) : "–");
  function hhmmSeconds(s) {
    if (s === null || s === undefined) return null;
    s = Math.max(0, Math.round(s));
    return `${pad(Math.floor(s / 3600) % 24)}:${pad(Math.floor((s % 3600) / 60))}`;
  }
  function localClock(iso) {
    if (!iso) return "";
    const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z"; // naive = UTC
    const d = new Date(withZone);
    return isNaN(d) ? "" : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function fmtKg(v) {
    return (Math.round(v * 10) / 10).toString();
  }
  function stopName(stop) {
    if (stop.kind === "break") return "休息 · Break";
    return stop.name || stop.id || "";
  }
  function matName(key) {
    const m = MAT[key];
    return m ? `${m.zh} ${m.en}` : key;
  }

  // --- coordinates: WGS-84 (stored) to GCJ-02 (Chinese map apps) ------------------------
  // The same public transform as road_rules/geo.py (Krasovsky ellipsoid, identity outside
  // mainland China); the browser test checks the two agree.
  const GCJ_A = 6378245.0;
  const GCJ_EE = 0.00669342162296594323;
  function gcjDlat(x, y) {
    let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
    r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
    r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
    return r;
  }
  function gcjDlon(x, y) {
    let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
    r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
    r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
    return r;
  }
  function wgs84ToGcj02(lon, lat) {
    if (!(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271)) return [lon, lat];
    let dlat = gcjDlat(lon - 105.0, lat - 35.0);
    let dlon = gcjDlon(lon - 105.0, lat - 35.0);
    const radlat = (lat / 180.0) * Math.PI;
    const magic = 1 - GCJ_EE * Math.sin(radlat) ** 2;
    const sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / (((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtmagic)) * Math.PI);
    dlon = (dlon * 180.0) / ((GCJ_A / sqrtmagic) * Math.cos(radlat) * Math.PI);
    return [lon + dlon, lat + dlat];
  }

  function navLinks(stop) {
    const [glon, glat] = wgs84ToGcj02(stop.lon, stop.lat);
    const g = (v) => v.toFixed(6);
    const name = stopName(stop);
    const label = encodeURIComponent(name);
    return {
      // Amap: GCJ-02 ("gaode"); opens the app when installed, else Amap's web page.
      amap:
        `https://uri.amap.com/navigation?to=${g(glon)},${g(glat)},${label}` +
        "&mode=car&coordinate=gaode&callnative=1&src=loopvan",
      // Baidu Map app: told the coordinates are GCJ-02.
      baidu:
        `baidumap://map/direction?destination=latlng:${g(glat)},${g(glon)}|name:${label}` +
        "&coord_type=gcj02&mode=driving&src=loopvan.driver",
      // geo: URI (RFC 5870) is WGS-84 by definition: the stored coordinates unchanged.
      geo: `geo:${g(stop.lat)},${g(stop.lon)}?q=${g(stop.lat)},${g(stop.lon)}(${label})`,
      gcj02: [glon, glat],
    };
  }

  // --- state --------------------------------------------------------------------------

  let saved = load(KEY.route, null); // {doc, etag, savedAt, checkedAt, offlineCopy}
  let picked = null; // a stop_id the driver tapped in the list (else the next stop)
  let reachable = navigator.onLine;
  let syncing = false;
  let syncFailures = 0;
  let retryTimer = null;
  let refreshing = null;
  let unauthorized = false;
  let noRoute = false;

  function token() { return load(KEY.token, null); }

  function pairFromFragment() {
    const m = /(?:^#|[#&])token=([^&]+)/.exec(location.hash || "");
    if (!m) return;
    const tok = decodeURIComponent(m[1]).trim();
    if (tok && tok !== token()) {
      [KEY.route, KEY.ack, KEY.names].forEach((k) => localStorage.removeItem(k));
      saved = null;
      if (window.caches) caches.delete(DATA_CACHE).catch(() => {});
      store(KEY.token, tok);
      unauthorized = false;
    }
    // never keep the token in the address bar, history or a shared screenshot
    history.replaceState(null, "", location.pathname + location.search);
  }

  function stops() { return saved && saved.doc ? saved.doc.route.route.stops || [] : []; }

  /** Route versions count per vehicle and day: "2026-12-01#2". */
  function versionKey(doc) { return `${(doc.route.plan || {}).date || ""}#${doc.version}`; }
  function sameDay(a, b) { return ((a.route.plan || {}).date || "") === ((b.route.plan || {}).date || ""); }

  function kindsAt(stop, evs) {
    const kinds = new Set(stop.reported || []);
    evs.forEach((e) => { if (e.stop_id === stop.stop_id && e.state !== "rejected") kinds.add(e.kind); });
    return kinds;
  }

  /** done / skipped / start / arrived / open for one stop (server reports and local queue). */
  function statusOf(stop, index, evs) {
    const k = kindsAt(stop, evs);
    switch (stop.kind) {
      case "pickup":
      case "station":
        if (k.has("collected")) return "done";
        if (k.has("skipped")) return "skipped";
        return k.has("arrived") ? "arrived" : "open";
      case "unload":
        if (k.has("unloaded")) return "done";
        return k.has("arrived") ? "arrived" : "open";
      case "break":
        return k.has("break") ? "done" : "open";
      case "depot":
        if (index === 0) return "start";
        return k.has("arrived") ? "done" : "open";
      default:
        return "open";
    }
  }

  function view() {
    const evs = events();
    const list = stops().map((s, i) => ({ stop: s, status: statusOf(s, i, evs) }));
    // the next stop: the first one still open in route order; breaks never block it
    let next = list.find((x) => x.stop.kind !== "break" && x.stop.kind !== "depot" &&
      (x.status === "open" || x.status === "arrived"));
    if (!next) next = list.find((x) => x.stop.kind === "depot" && x.status === "open");
    return { evs, list, next: next || null };
  }

  // --- route ----------------------------------------------------------------------------

  function refreshRoute(opts) {
    if (refreshing) return refreshing;
    refreshing = doRefresh(opts || {}).finally(() => { refreshing = null; });
    return refreshing;
  }

  async function doRefresh(opts) {
    const tok = token();
    if (!tok) { render(); return; }
    const headers = { Authorization: "Bearer " + tok, Accept: "application/json" };
    if (saved && saved.etag && !opts.full) headers["If-None-Match"] = saved.etag;
    let resp;
    try {
      resp = await fetch(CFG.routeUrl, { headers, cache: "no-store" });
    } catch (e) {
      reachable = false;
      render();
      return;
    }
    const offlineCopy = resp.headers.get("X-Loopvan-Cache");
    reachable = !offlineCopy;
    if (resp.status === 304) {
      if (saved) { saved.checkedAt = new Date().toISOString(); saved.offlineCopy = false; store(KEY.route, saved); }
      noRoute = false;
    } else if (resp.status === 200) {
      const doc = await resp.json();
      takeRoute(doc, resp.headers.get("ETag"), offlineCopy === "1");
      noRoute = false;
      unauthorized = false;
    } else if (resp.status === 401) {
      unauthorized = true;
    } else if (resp.status === 404) {
      noRoute = true;
      saved = null;
      localStorage.removeItem(KEY.route);
    } else if (offlineCopy === "miss") {
      reachable = false;
    }
    render();
  }

  function takeRoute(doc, etag, offlineCopy) {
    const now = new Date().toISOString();
    if (offlineCopy && saved && saved.doc && sameDay(saved.doc, doc) && saved.doc.version >= doc.version) {
      saved.offlineCopy = true; // ours is at least as new as the worker's copy
      return;
    }
    if (saved && saved.doc && versionKey(saved.doc) !== versionKey(doc)) {
      // keep the old version's names, to say what a "removed" reference was
      const names = load(KEY.names, {});
      saved.doc.route.route.stops.forEach((s) => { if (s.id) names[s.id] = s.name; });
      store(KEY.names, names);
    }
    saved = { doc, etag, savedAt: offlineCopy ? (saved && saved.savedAt) || now : now,
      checkedAt: now, offlineCopy };
    store(KEY.route, saved);
    prune();
  }

  /** Forget synced events that belong to no stop of the current route and are a day old. */
  function prune() {
    const ids = new Set(stops().map((s) => s.stop_id));
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    const evs = events();
    const kept = evs.filter((e) => e.state !== "synced" || ids.has(e.stop_id) || Date.parse(e.created) > dayAgo);
    if (kept.length !== evs.length) saveEvents(kept);
  }

  // --- events and sync -----------------------------------------------------------------

  function record(stop, kind, extra) {
    const ev = Object.assign(
      { event_id: newEventId(), stop_id: stop.stop_id, kind, recorded_at: isoNow() },
      extra || {},
      { state: "pending", created: new Date().toISOString(), seq: stop.seq, ref: stop.id, name: stopName(stop) }
    );
    const evs = events();
    evs.push(ev);
    saveEvents(evs);
    picked = null;
    render();
    if (navigator.vibrate) navigator.vibrate(40); // felt, not only seen, in a moving truck
    const [zh, en] = EVENT_NAMES[kind];
    toast(`已记录${zh} · ${en} recorded` + (navigator.onLine ? "" : " — 离线，稍后同步 · offline, will sync"));
    syncNow();
    return ev;
  }

  function wire(e) {
    const out = { event_id: e.event_id, stop_id: e.stop_id, kind: e.kind, recorded_at: e.recorded_at };
    if (e.kg) out.kg = e.kg;
    if (e.reason) out.reason = e.reason;
    return out;
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    const ms = Math.min(60000, 2000 * 2 ** Math.min(syncFailures, 5));
    retryTimer = setTimeout(syncNow, ms);
  }

  async function syncNow() {
    const tok = token();
    const pending = events().filter((e) => e.state === "pending");
    if (syncing || !tok || !pending.length) { renderStatus(); return; }
    if (!navigator.onLine) { reachable = false; renderStatus(); scheduleRetry(); return; }
    if (!reachable) {
      // The last attempt found no network: ask with the cheap route check before sending.
      await refreshRoute();
      if (!reachable) { renderStatus(); scheduleRetry(); return; }
    }
    if (syncing) return;
    syncing = true;
    renderStatus();
    let stored = 0;
    let ok = false;
    const sent = new Set(pending.map((e) => e.event_id));
    try {
      for (let i = 0; i < pending.length; i += BATCH) {
        const chunk = pending.slice(i, i + BATCH);
        const resp = await fetch(CFG.eventsUrl, {
          method: "POST",
          headers: { Authorization: "Bearer " + tok, "Content-Type": "application/json" },
          body: JSON.stringify({ events: chunk.map(wire) }),
          cache: "no-store",
        });
        if (resp.status === 401) { unauthorized = true; break; }
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        const body = await resp.json();
        const results = {};
        (body.results || []).forEach((r) => { results[r.event_id] = r; });
        const evs = events();
        evs.forEach((e) => {
          const r = results[e.event_id];
          if (!r || e.state !== "pending") return;
          if (r.result === "stored" || r.result === "duplicate") {
            e.state = "synced";
            e.result = r.result;
            stored += 1;
          } else if (r.result === "invalid" || r.result === "refused") {
            e.state = "rejected";
            e.result = r.result;
            e.message = r.message || JSON.stringify(r.errors || {});
          }
        });
        saveEvents(evs);
      }
      reachable = true;
      syncFailures = 0;
      ok = !unauthorized;
    } catch (e) {
      if (e instanceof TypeError || !navigator.onLine) reachable = false; // no network
      syncFailures += 1;
      scheduleRetry();
    } finally {
      syncing = false;
    }
    render();
    // events recorded while this round was on the wire go in the next one, right away
    if (ok && events().some((e) => e.state === "pending" && !sent.has(e.event_id))) setTimeout(syncNow, 0);
    if (stored) refreshRoute();
  }

  // --- rendering -------------------------------------------------------------------------

  function renderStatus() {
    const online = navigator.onLine && reachable;
    const net = $("net");
    net.dataset.state = online ? "online" : "offline";
    setBi(net, online ? "在线" : "离线", online ? "Online" : "Offline");
    const evs = events();
    const n = evs.filter((e) => e.state === "pending").length;
    const sync = $("sync");
    sync.dataset.pending = String(n);
    sync.dataset.state = syncing ? "syncing" : n ? "waiting" : "synced";
    if (syncing) setBi(sync, `同步中 ${n} 条`, `Syncing ${n}…`);
    else if (n) setBi(sync, `${n} 条待同步`, `${n} waiting to sync`);
    else setBi(sync, "已同步", "All synced");
    const rejected = evs.filter((e) => e.state === "rejected");
    $("rejected").hidden = !rejected.length;
    $("rejected-list").replaceChildren(
      ...rejected.map((e) => el("li", {}, `#${e.seq} ${e.name || e.ref || e.stop_id} · `,
        bi(EVENT_NAMES[e.kind][0], EVENT_NAMES[e.kind][1]), ` — ${e.message || e.result}`))
    );
  }

  function renderChanges(doc) {
    const ch = doc.changes;
    const box = $("changes");
    if (!ch || load(KEY.ack, null) === versionKey(doc)) { box.hidden = true; return new Set(); }
    const byRef = {};
    doc.route.route.stops.forEach((s) => { byRef[s.id] = s; });
    const names = load(KEY.names, {});
    const items = [];
    (ch.added || []).forEach((ref) => {
      const s = byRef[ref];
      items.push(el("li", {}, el("span", { class: "add" }, "＋ 新增 Added "),
        s ? `#${s.seq} ${s.name} ` : "", el("code", {}, ref)));
    });
    (ch.removed || []).forEach((ref) => {
      items.push(el("li", {}, el("span", { class: "del" }, "－ 取消 Removed "),
        names[ref] ? `${names[ref]} ` : "", el("code", {}, ref)));
    });
    if (ch.order_changed) items.push(el("li", {}, bi("站点顺序已调整", "Stop order changed")));
    if (!items.length) items.push(el("li", {}, bi("时间已调整", "Times changed")));
    $("changes-versions").textContent = `v${ch.from_version} → v${doc.version}`;
    $("changes-list").replaceChildren(...items);
    box.hidden = false;
    return new Set(ch.added || []);
  }

  const STATUS_CHIP = {
    done: ["s-done", "已完成", "Done"],
    skipped: ["s-skipped", "已跳过", "Skipped"],
    next: ["s-next", "下一站", "Next"],
    arrived: ["s-next", "已到达", "Arrived"],
    start: ["s-done", "起点", "Start"],
  };

  function chip(cls, zh, en) {
    return el("span", { class: "chip " + cls }, zh, " ", el("small", {}, en));
  }

  function etaParts(stop) {
    const t = hhmmSeconds(stop.eta) || hhmmIso(stop.arrival);
    const late = (stop.delay_s || 0) >= 60 ? Math.round(stop.delay_s / 60) : 0;
    return { t, late };
  }

  function renderList(v, added) {
    const pendingIds = new Set(v.evs.filter((e) => e.state === "pending").map((e) => e.stop_id));
    const rows = v.list.map(({ stop, status }) => {
      const isNext = v.next && v.next.stop.stop_id === stop.stop_id;
      const shown = isNext ? (status === "arrived" ? "arrived" : "next") : status;
      const kind = KIND[stop.kind] || [stop.kind, stop.kind];
      const { t, late } = etaParts(stop);
      const finished = status === "done" || status === "skipped" || status === "start";
      const chips = [];
      if (STATUS_CHIP[shown]) chips.push(chip(...STATUS_CHIP[shown]));
      if (pendingIds.has(stop.stop_id)) chips.push(chip("s-wait", "待同步", "waiting to sync"));
      if (added.has(stop.id)) chips.push(chip("s-new", "新", "New"));
      return el(
        "li",
        {
          class: "stop" + (picked === stop.stop_id ? " picked" : "") + (added.has(stop.id) ? " is-new" : ""),
          "data-stop-id": stop.stop_id,
          "data-status": shown,
          "data-kind": stop.kind,
          role: "button",
          tabindex: "0",
          onclick: () => pick(stop.stop_id),
          onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(stop.stop_id); } },
        },
        el("span", { class: "n" }, stop.seq),
        el("span", { class: "what" }, el("b", {}, stopName(stop)),
          el("small", {}, `${kind[0]} ${kind[1]}` + (stop.id && stop.kind !== "break" ? ` · ${stop.id}` : ""))),
        el("span", { class: "when" }, el("b", {}, t),
          finished ? null : late ? el("small", { class: "late" }, `晚 ${late} 分 · +${late} min`)
            : el("small", { class: "ontime" }, "准时 · on time")),
        chips.length ? el("span", { class: "st" }, chips) : null
      );
    });
    $("stops").replaceChildren(...rows);
    const total = v.list.filter((x) => ["pickup", "station", "unload"].includes(x.stop.kind));
    const done = total.filter((x) => x.status === "done" || x.status === "skipped");
    $("progress").textContent = `${done.length} / ${total.length}`;
  }

  function windowsText(stop) {
    const w = stop.windows || [];
    return w.length ? w.map(([a, b]) => `${hhmmIso(a)}–${hhmmIso(b)}`).join(", ") : "—";
  }

  function materialsText(stop) {
    if (stop.booking && stop.booking.materials && stop.booking.materials.length) {
      return stop.booking.materials.map((m) => `${matName(m.material)} ${fmtKg(m.kg)} kg`).join(" · ");
    }
    if (stop.kind === "unload") return "全部卸下 · Unload all";
    if (stop.materials && stop.materials.length) return stop.materials.map(matName).join(" · ");
    return "—";
  }

  function doneNote(stop, evs) {
    const mine = evs.filter((e) => e.stop_id === stop.stop_id && e.state !== "rejected");
    const last = mine[mine.length - 1];
    const waiting = mine.some((e) => e.state === "pending");
    const tail = waiting ? " · 待同步 waiting to sync" : " · 已同步 synced";
    if (last && last.kg) {
      const kg = Object.entries(last.kg).map(([m, v]) => `${matName(m)} ${fmtKg(v)} kg`).join(", ");
      return `${EVENT_NAMES[last.kind][0]} ${EVENT_NAMES[last.kind][1]}: ${kg}${tail}`;
    }
    if (last && last.reason) return `已跳过 Skipped: ${last.reason}${tail}`;
    const rep = (stop.reported || []).filter((k) => k !== "arrived");
    if (rep.length) return rep.map((k) => EVENT_NAMES[k] ? `${EVENT_NAMES[k][0]} ${EVENT_NAMES[k][1]}` : k).join(", ") + " · 已同步 synced";
    return last ? `${EVENT_NAMES[last.kind][0]} ${EVENT_NAMES[last.kind][1]}${tail}` : "";
  }

  function actionButton(cls, zh, en, id, fn) {
    return el("button", { type: "button", class: "btn " + cls, "data-action": id, onclick: fn }, el("b", {}, zh), el("small", {}, en));
  }

  function renderCard(v) {
    const card = $("card");
    let entry = null;
    if (picked !== null) entry = v.list.find((x) => x.stop.stop_id === picked) || null;
    if (!entry) { picked = null; entry = v.next; }
    $("finished").hidden = !!v.next || !v.list.length;
    if (!entry) { card.hidden = true; return; }
    const { stop, status } = entry;
    const isNext = v.next && v.next.stop.stop_id === stop.stop_id;
    card.hidden = false;
    card.dataset.stopId = stop.stop_id;
    card.dataset.status = status;
    card.classList.toggle("is-next", !!isNext);
    card.classList.toggle("is-picked", !isNext);
    $("card-label").textContent = isNext ? "下一站 · Next stop" : "已选站点 · Selected stop";
    const kind = KIND[stop.kind] || [stop.kind, stop.kind];
    const kc = $("card-kind");
    kc.className = "chip k-" + stop.kind;
    kc.textContent = `${kind[0]} ${kind[1]}`;
    $("card-seq").textContent = `#${stop.seq}`;
    $("card-name").textContent = stopName(stop);
    $("card-ref").textContent = stop.kind === "break" ? "" : stop.id || "";
    const { t, late } = etaParts(stop);
    const eta = $("card-eta");
    eta.replaceChildren(t, " ", late
      ? el("small", { class: "late" }, `晚 ${late} 分 · ${late} min late`)
      : el("small", { class: "ontime" }, "准时 · on time"));
    $("card-window").textContent = windowsText(stop);
    $("card-materials").textContent = materialsText(stop);
    const links = navLinks(stop);
    $("nav-amap").href = links.amap;
    $("nav-baidu").href = links.baidu;
    $("nav-geo").href = links.geo;
    $("nav-amap").dataset.gcj02 = links.gcj02.map((x) => x.toFixed(6)).join(",");

    const acts = [];
    const open = status === "open" || status === "arrived";
    if (open && stop.kind !== "break") {
      acts.push(actionButton("btn-dark", status === "arrived" ? "已到达 ✓" : "到达",
        stop.kind === "depot" ? "Back at depot" : "Arrived", "arrived",
        () => record(stop, "arrived")));
      if (status === "arrived") acts[0].disabled = true;
    }
    if (open && (stop.kind === "pickup" || stop.kind === "station")) {
      acts.push(actionButton("btn-go", "收运", "Collect (kg)", "collect", () => openCollect(stop)));
      acts.push(actionButton("btn-skip", "跳过", "Skip", "skip", () => openSkip(stop)));
    } else if (open && stop.kind === "unload") {
      acts.push(actionButton("btn-go", "卸货", "Unloaded (kg)", "unload", () => openUnload(stop)));
    } else if (open && stop.kind === "break") {
      acts.push(actionButton("btn-go", "开始休息", "Start break", "break", () => record(stop, "break")));
    }
    $("card-actions").replaceChildren(...acts);
    const note = $("card-done");
    const finished = status === "done" || status === "skipped" || status === "start";
    note.hidden = !finished;
    note.textContent = finished ? (status === "start" ? "出发地 · Start of the route" : doneNote(stop, v.evs)) : "";
    $("card-back").hidden = isNext || !v.next;
  }

  function render() {
    renderStatus();
    const app = $("app");
    const paired = !!token();
    $("pairing").hidden = paired && !unauthorized;
    $("pairing").querySelector("h1").replaceChildren(
      unauthorized ? "配对已失效 " : "未配对 ",
      el("small", {}, unauthorized ? "Pairing no longer valid" : "Not paired"));
    const notice = $("notice");
    if (paired && !saved && !unauthorized) {
      notice.hidden = false;
      if (noRoute) {
        $("notice-title").replaceChildren("暂无已发布路线 ", el("small", {}, "No published route yet"));
        $("notice-text").textContent = "调度发布路线后会自动显示。 · It appears here once dispatch publishes it.";
      } else if (!navigator.onLine || !reachable) {
        $("notice-title").replaceChildren("离线，尚无路线 ", el("small", {}, "Offline, no route saved"));
        $("notice-text").textContent = "联网后自动下载今日路线。 · Today's route downloads when back online.";
      } else {
        $("notice-title").replaceChildren("正在载入路线… ", el("small", {}, "Loading the route…"));
        $("notice-text").textContent = "";
      }
    } else {
      notice.hidden = true;
    }
    if (!saved || !paired) {
      ["card", "list-wrap", "changes", "finished"].forEach((id) => { $(id).hidden = true; });
      app.setAttribute("aria-busy", paired && !noRoute && !unauthorized ? "true" : "false");
      return;
    }
    const doc = saved.doc;
    const veh = doc.route.vehicle || {};
    const plan = doc.route.plan || {};
    $("plate").textContent = veh.plate || "Loopvan";
    const district = plan.district ? `${plan.district.name_zh} ${plan.district.name_en}` : "";
    $("route-meta").textContent = `${plan.date || ""} · ${district} · 第 ${doc.version} 版 v${doc.version}`;
    const added = renderChanges(doc);
    const v = view();
    renderList(v, added);
    renderCard(v);
    $("list-wrap").hidden = false;
    const when = localClock(saved.savedAt);
    const pub = localClock(doc.published_at);
    $("route-saved").textContent =
      `路线 v${doc.version}` + (pub ? ` · 发布于 ${pub} published` : "") +
      ` · 更新于 ${when} saved` + (saved.offlineCopy || !reachable ? " · 离线副本 offline copy" : "");
    app.setAttribute("aria-busy", "false");
    app.dataset.ready = "1";
  }

  function pick(stopId) {
    const v = view();
    picked = v.next && v.next.stop.stop_id === stopId ? null : stopId;
    render();
    const still = window.matchMedia && matchMedia("(prefers-reduced-motion: reduce)").matches;
    $("card").scrollIntoView({ behavior: still ? "auto" : "smooth", block: "start" });
  }

  // --- sheets: collect / unload (kg per material) and skip (reason) -------------------------

  let sheetSave = null;

  function openSheet(title, sub, fields, onSave) {
    $("sheet-title").replaceChildren(...title);
    $("sheet-sub").textContent = sub;
    $("sheet-fields").replaceChildren(...fields);
    $("sheet-error").hidden = true;
    sheetSave = onSave;
    $("sheet").hidden = false;
    const first = $("sheet-fields").querySelector("input");
    if (first) first.focus();
  }
  function closeSheet() {
    $("sheet").hidden = true;
    sheetSave = null;
  }
  function sheetError(zh, en) {
    const e = $("sheet-error");
    e.textContent = `${zh} · ${en}`;
    e.hidden = false;
  }

  function parseKg(raw) {
    const s = String(raw || "").trim().replace(",", ".");
    if (!s) return null;
    const n = Number(s);
    return Number.isFinite(n) ? n : NaN;
  }

  function kgRow(material, value, hint) {
    const input = el("input", {
      type: "text", inputmode: "decimal", autocomplete: "off", enterkeyhint: "done",
      name: "kg-" + material, "data-material": material, "aria-label": `${matName(material)} kg`,
      placeholder: "kg", value: value === null || value === undefined ? "" : fmtKg(value),
    });
    const step = (d) => () => {
      const cur = parseKg(input.value);
      input.value = fmtKg(Math.max(0, (Number.isFinite(cur) ? cur : 0) + d));
    };
    const m = MAT[material] || { zh: material, en: material };
    return el("div", { class: "kg-row" },
      el("label", {}, el("b", {}, m.zh), el("small", {}, m.en), hint ? el("span", { class: "est" }, hint) : null),
      el("button", { type: "button", class: "btn", "aria-label": "-1 kg", onclick: step(-1) }, "−"),
      input,
      el("button", { type: "button", class: "btn", "aria-label": "+1 kg", onclick: step(1) }, "+"));
  }

  function kgFields(rows) {
    const box = el("div", { class: "kg-rows" }, rows.map((r) => kgRow(r.material, r.value, r.hint)));
    const shown = new Set(rows.map((r) => r.material));
    const adders = el("div", { class: "add-row" });
    CFG.materials.forEach((m) => {
      if (shown.has(m.key)) return;
      const b = el("button", { type: "button", class: "btn btn-ghost", "data-add": m.key,
        onclick: () => { box.append(kgRow(m.key, null, null)); b.remove(); box.lastChild.querySelector("input").focus(); } },
      el("b", {}, "＋ " + m.zh), el("small", {}, m.en));
      adders.append(b);
    });
    return [box, el("p", { class: "sub" }, "其他物料 · Other materials"), adders];
  }

  function readKg() {
    const kg = {};
    let bad = false;
    $("sheet-fields").querySelectorAll("input[data-material]").forEach((inp) => {
      const v = parseKg(inp.value);
      if (v === null) return;
      if (!Number.isFinite(v) || v < 0 || v > 5000) { bad = true; inp.setAttribute("aria-invalid", "true"); return; }
      inp.removeAttribute("aria-invalid");
      kg[inp.dataset.material] = Math.round(v * 10) / 10;
    });
    if (bad) { sheetError("重量须在 0–5000 kg 之间", "weights must be 0–5000 kg"); return null; }
    if (!Object.values(kg).some((x) => x > 0)) { sheetError("请至少填写一种物料的重量", "enter the kg of at least one material"); return null; }
    return kg;
  }

  function openCollect(stop) {
    const rows = [];
    if (stop.booking && stop.booking.materials) {
      stop.booking.materials.forEach((m) => rows.push({ material: m.material, value: null,
        hint: `预约 booked ${fmtKg(m.kg)} kg` }));
    }
    (stop.materials || []).forEach((m) => { if (!rows.some((r) => r.material === m)) rows.push({ material: m, value: null, hint: null }); });
    openSheet([`收运 `, el("small", {}, "Collect"), ` · #${stop.seq}`], `${stop.name} · 过磅后填写公斤数 · weigh, then enter kg`,
      kgFields(rows), () => { const kg = readKg(); if (kg) { closeSheet(); record(stop, "collected", { kg }); } });
  }

  function openUnload(stop) {
    // prefill with what this tablet recorded since the previous unload (or the booked kg)
    const list = stops();
    const idx = list.findIndex((s) => s.stop_id === stop.stop_id);
    let from = 0;
    for (let i = idx - 1; i >= 0; i -= 1) { if (list[i].kind === "unload") { from = i + 1; break; } }
    const evs = events();
    const sums = {};
    const booked = {};
    list.slice(from, idx).forEach((s) => {
      const got = evs.filter((e) => e.stop_id === s.stop_id && e.kind === "collected" && e.state !== "rejected");
      if (got.length) {
        Object.entries(got[got.length - 1].kg || {}).forEach(([m, kg]) => { sums[m] = (sums[m] || 0) + kg; });
      } else if (s.booking && !(s.reported || []).includes("skipped")) {
        s.booking.materials.forEach((m) => { booked[m.material] = (booked[m.material] || 0) + m.kg; });
      }
    });
    const mats = [...new Set([...Object.keys(sums), ...Object.keys(booked)])];
    const rows = mats.map((m) => ({ material: m, value: sums[m] || null,
      hint: sums[m] ? "本机记录 recorded here" : `预计 planned ${fmtKg(booked[m] || 0)} kg` }));
    openSheet([`卸货 `, el("small", {}, "Unload"), ` · #${stop.seq}`], `${stop.name} · 按过磅单填写 · as weighed at the station`,
      kgFields(rows), () => { const kg = readKg(); if (kg) { closeSheet(); record(stop, "unloaded", { kg }); } });
  }

  function openSkip(stop) {
    let chosen = "";
    const other = el("input", { type: "text", class: "reason-text", name: "reason", maxlength: "200",
      placeholder: "其他原因 · Other reason", autocomplete: "off" });
    const buttons = SKIP_REASONS.map(([zh, en]) => {
      const b = el("button", { type: "button", class: "btn", "aria-pressed": "false", "data-reason": `${zh} ${en}`,
        onclick: () => {
          chosen = `${zh} ${en}`;
          other.value = "";
          buttons.forEach((x) => x.setAttribute("aria-pressed", x === b ? "true" : "false"));
        } }, el("b", {}, zh), el("small", {}, en));
      return b;
    });
    other.addEventListener("input", () => { if (other.value.trim()) { chosen = ""; buttons.forEach((x) => x.setAttribute("aria-pressed", "false")); } });
    openSheet([`跳过 `, el("small", {}, "Skip"), ` · #${stop.seq}`], `${stop.name} · 请选择原因 · choose a reason`,
      [el("div", { class: "reasons" }, buttons), other], () => {
        const reason = (other.value.trim() || chosen).slice(0, 200);
        if (!reason) { sheetError("请选择或填写原因", "choose or type a reason"); return; }
        closeSheet();
        record(stop, "skipped", { reason });
      });
    const first = $("sheet-fields").querySelector("button");
    if (first) first.focus();
  }

  // --- toast -----------------------------------------------------------------------------

  let toastTimer = null;
  function toast(text) {
    const t = $("toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
  }

  // --- wiring ------------------------------------------------------------------------------

  function wireUi() {
    $("sheet-form").addEventListener("submit", (e) => { e.preventDefault(); if (sheetSave) sheetSave(); });
    $("sheet-cancel").addEventListener("click", closeSheet);
    $("sheet").addEventListener("click", (e) => { if (e.target === $("sheet")) closeSheet(); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("sheet").hidden) closeSheet(); });
    $("card-back").addEventListener("click", () => { picked = null; render(); });
    $("changes-ok").addEventListener("click", () => { if (saved) store(KEY.ack, versionKey(saved.doc)); render(); });
    $("sync").addEventListener("click", () => { syncFailures = 0; syncNow(); refreshRoute(); });
    $("notice-retry").addEventListener("click", () => refreshRoute({ full: true }));
    $("rejected-clear").addEventListener("click", () => { saveEvents(events().filter((e) => e.state !== "rejected")); render(); });
    // a pairing link opened on a page that is already showing (same document, new fragment)
    window.addEventListener("hashchange", () => {
      if (/token=/.test(location.hash)) { pairFromFragment(); render(); refreshRoute({ full: true }); syncNow(); }
    });
    window.addEventListener("online", () => { reachable = true; syncFailures = 0; render(); syncNow(); refreshRoute(); });
    window.addEventListener("offline", () => { reachable = false; render(); });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") { syncNow(); refreshRoute(); }
    });
    window.addEventListener("storage", (e) => { if (e.key === KEY.events || e.key === KEY.route) { saved = load(KEY.route, null); render(); } });
    let ticks = 0;
    setInterval(() => {
      ticks += 1;
      syncNow();
      if (ticks % 4 === 0 && navigator.onLine) refreshRoute();
    }, TICK_MS);
  }

  /** Keep the screen on while the app is in front (where the browser allows it). */
  function keepAwake() {
    if (!("wakeLock" in navigator)) return;
    const ask = () => {
      if (document.visibilityState === "visible") navigator.wakeLock.request("screen").catch(() => {});
    };
    document.addEventListener("visibilitychange", ask);
    ask();
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
    // when the worker first takes this page over, fetch the route once more through it,
    // so that it holds a copy for the next time the page opens without a network
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      (refreshing || Promise.resolve()).then(() => refreshRoute({ full: true }));
    });
    navigator.serviceWorker.register(CFG.swUrl, { scope: CFG.scope }).catch((e) => {
      console.warn("service worker not registered", e); // eslint-disable-line no-console
    });
  }

  window.LoopvanDriver = {
    wgs84ToGcj02,
    navLinks,
    sync: syncNow,
    refresh: refreshRoute,
    events,
    get route() { return saved; },
  };

  pairFromFragment();
  wireUi();
  keepAwake();
  render();
  registerWorker();
  // Send what is queued once the route check has shown whether the network answers.
  refreshRoute().finally(syncNow);
})();
