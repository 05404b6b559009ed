// Dispatcher page: timeline per van, stop lists with the editor (move a stop between vans or
// reorder it; every change is checked at once by POST /edit with check_only), save as a new
// version, approve / publish, and live progress from the plan's server-sent events.
// Reads the plan from <script id="plan-data"> (plan JSON without road paths); talks to the
// map through window.loopvanMap (plan-map.js), which may be absent.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("plan-data").textContent);
  var planId = data.plan.id;
  var MOVABLE = data.movable;
  var LIVE_DONE = { collected: "done", unloaded: "done", "break": "done", skipped: "skipped", arrived: "arrived" };

  function $(id) { return document.getElementById(id); }
  function mapApi() { return window.loopvanMap || null; }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function clone(o) { return JSON.parse(JSON.stringify(o)); }
  // Seconds after local midnight of a plan JSON time (always written with +08:00).
  function sod(iso) {
    var t = String(iso).slice(11, 19).split(":");
    return (+t[0]) * 3600 + (+t[1]) * 60 + (+t[2] || 0);
  }
  function hhmm(sec) {
    var h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60);
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m;
  }
  function isMovable(s) { return MOVABLE.indexOf(s.kind) >= 0; }
  function signed(x, digits) {
    var r = x.toFixed(digits);
    return (x > 0 ? "+" : x < 0 ? "" : "±") + r;
  }

  // --- the plan as planned -------------------------------------------------------------
  var vans = {};
  data.vans.forEach(function (v) { vans[v.plate] = v; });
  var colours = {};
  data.vans.forEach(function (v) { colours[v.plate] = v.colour; });
  var plates = data.routes.map(function (r) { return r.vehicle; });
  // An item of a van's sequence: a stop (its BK-/CP- reference is its id) or an unload trip
  // (id "unload:<plate>:<seq>", several may go to one station). The edit sends references
  // in order: unload trips as their transfer station's reference, kept where they are.
  var info = {};       // item id -> what we know of it
  var orig = {};       // plate -> [item ids] as planned
  data.routes.forEach(function (r) {
    orig[r.vehicle] = [];
    r.stops.forEach(function (s) {
      var id;
      if (isMovable(s)) { id = s.id; }
      else if (s.kind === "unload") { id = "unload:" + r.vehicle + ":" + s.seq; }
      else { return; }
      orig[r.vehicle].push(id);
      info[id] = { id: id, ref: s.id, kind: s.kind, name: s.name, plate: r.vehicle, seq: s.seq,
        start: s.start, windows: s.windows || [], tail_lift: s.tail_lift, materials: s.materials };
    });
  });
  data.unassigned.forEach(function (u) {
    info[u.id] = { id: u.id, ref: u.id, kind: u.kind, name: u.name, plate: null, reason: u.reason, detail: u.detail,
      windows: [], tail_lift: false, materials: [] };
  });

  var cur = clone(orig);
  var undoStack = [];
  var selected = null;
  var preview = null;        // the last legal preview (plan JSON)
  var legal = false;
  var checkSeq = 0;
  var checkTimer = null;
  var openVans = {};
  var progress = {};         // "plate|seq" -> arrived / done / skipped

  function sameSeqs(a, b) {
    var ka = Object.keys(a).filter(function (k) { return a[k].length; }).sort();
    var kb = Object.keys(b).filter(function (k) { return b[k].length; }).sort();
    if (ka.join("\n") !== kb.join("\n")) { return false; }
    return ka.every(function (k) { return a[k].join("\n") === b[k].join("\n"); });
  }
  function changedPlates() {
    return plates.filter(function (p) { return (orig[p] || []).join("\n") !== (cur[p] || []).join("\n"); });
  }
  function whereIs(ref) {
    for (var i = 0; i < plates.length; i++) {
      var k = cur[plates[i]].indexOf(ref);
      if (k >= 0) { return { plate: plates[i], index: k }; }
    }
    return { plate: null, index: -1 };
  }
  function unassignedNow() {
    var on = {};
    plates.forEach(function (p) { cur[p].forEach(function (r) { on[r] = true; }); });
    return Object.keys(info).filter(function (r) { return !on[r] && info[r].kind !== "unload"; });
  }
  function workCount(items) { return items.filter(function (i) { return info[i] && info[i].kind !== "unload"; }).length; }
  // The edit's routes: references in order (an unload trip as its transfer station's).
  function payload() {
    var out = {};
    plates.forEach(function (p) { out[p] = cur[p].map(function (i) { return info[i].ref; }); });
    return out;
  }
  function previewRoute(plate) {
    if (!preview) { return null; }
    for (var i = 0; i < preview.routes.length; i++) {
      if (preview.routes[i].vehicle === plate) { return preview.routes[i]; }
    }
    return null;
  }

  // --- timeline ------------------------------------------------------------------------
  function blocksOf(route) {
    var out = [];
    var st = route.stops;
    for (var i = 0; i < st.length; i++) {
      var s = st[i];
      var arr = sod(s.arrival), beg = sod(s.start), end = sod(s.departure);
      if (i > 0) {
        var dep = sod(st[i - 1].departure);
        var travel = s.leg ? s.leg.duration_s : (s.travel_s || 0);
        var tEnd = Math.min(dep + travel, arr);
        if (tEnd > dep) { out.push({ type: "travel", a: dep, b: tEnd, s: s }); }
        if (beg > tEnd) { out.push({ type: "wait", a: tEnd, b: beg, s: s }); }
      }
      if (end > beg && s.kind !== "depot") {
        var type = s.kind === "unload" ? "unload" : s.kind === "break" ? "break" : "service";
        out.push({ type: type, a: beg, b: end, s: s });
      }
    }
    return out;
  }

  function renderTimeline() {
    var box = $("timeline");
    if (!box) { return; }
    var routes = data.routes.map(function (r) { return previewRoute(r.vehicle) && changedPlates().indexOf(r.vehicle) >= 0 ? previewRoute(r.vehicle) : r; });
    if (preview) {  // a van the preview uses that the plan did not
      preview.routes.forEach(function (r) { if (plates.indexOf(r.vehicle) < 0) { routes.push(r); } });
    }
    var t0 = Infinity, t1 = -Infinity;
    routes.forEach(function (r) {
      var v = vans[r.vehicle];
      if (v) { t0 = Math.min(t0, sod(v.shift.start)); t1 = Math.max(t1, sod(v.shift.end)); }
      if (r.stops.length) {
        t0 = Math.min(t0, sod(r.stops[0].departure));
        t1 = Math.max(t1, sod(r.stops[r.stops.length - 1].arrival));
      }
    });
    if (!isFinite(t0)) { box.innerHTML = '<p class="muted">No routes.</p>'; return; }
    t0 = Math.floor(t0 / 3600) * 3600;
    t1 = Math.ceil(t1 / 3600) * 3600;
    var span = Math.max(t1 - t0, 3600);
    function pct(t) { return ((t - t0) / span * 100).toFixed(3) + "%"; }
    function width(a, b) { return (Math.max(b - a, 0) / span * 100).toFixed(3) + "%"; }
    var html = ['<div class="tl-axis"><span class="tl-label"></span><div class="tl-track">'];
    for (var h = t0; h <= t1; h += 3600) {
      html.push('<span class="tl-tick" style="left:' + pct(h) + '">' + hhmm(h) + "</span>");
    }
    html.push("</div></div>");
    var changed = changedPlates();
    routes.forEach(function (r) {
      var v = vans[r.vehicle] || { colour: "#555", shift: null };
      var edited = preview && changed.indexOf(r.vehicle) >= 0;
      html.push('<div class="tl-row' + (edited ? " edited" : "") + '" data-vehicle="' + esc(r.vehicle) + '">');
      html.push('<span class="tl-label"><i class="swatch" style="background:' + v.colour + '"></i>' + esc(r.vehicle) +
        (edited ? ' <em title="edited, not saved">✎</em>' : "") + "</span>");
      html.push('<div class="tl-track">');
      if (v.shift) {
        html.push('<span class="tl-shift" style="left:' + pct(sod(v.shift.start)) + ";width:" +
          width(sod(v.shift.start), sod(v.shift.end)) + '"></span>');
      }
      for (var h2 = t0 + 3600; h2 < t1; h2 += 3600) {
        html.push('<span class="tl-grid" style="left:' + pct(h2) + '"></span>');
      }
      blocksOf(r).forEach(function (b) {
        var s = b.s;
        var key = r.vehicle + "|" + s.seq;
        var title = b.type + " " + hhmm(b.a) + "–" + hhmm(b.b) + (b.type === "travel" || b.type === "wait" ? " → " : ": ") +
          (s.kind === "break" ? "driver break" : s.id + " " + s.name);
        var cls = "tl-block tl-" + b.type + (b.type === "service" ? " tl-" + s.kind : "");
        if (!edited && progress[key] && b.type !== "travel" && b.type !== "wait") { cls += " live-" + progress[key]; }
        if (selected && s.id === selected && b.type === "service") { cls += " selected"; }
        html.push('<span class="' + cls + '" style="left:' + pct(b.a) + ";width:" + width(b.a, b.b) +
          (b.type === "service" ? ";background:" + v.colour : "") + '" title="' + esc(title) + '"' +
          (b.type === "service" ? ' data-ref="' + esc(s.id) + '"' : "") +
          (edited ? "" : ' data-key="' + esc(key) + '"') + "></span>");
      });
      html.push("</div></div>");
    });
    box.innerHTML = html.join("");
    box.dataset.rows = routes.length;
  }

  // --- stop lists (the editor) ---------------------------------------------------------
  function etaOf(item, plate) {
    var x = info[item];
    var pr = changedPlates().indexOf(plate) >= 0 ? previewRoute(plate) : null;
    if (pr) {
      if (!x || x.kind === "unload") { return ""; }  // the re-timer may skip or add unload trips
      for (var i = 0; i < pr.stops.length; i++) { if (pr.stops[i].id === x.ref) { return pr.stops[i].start.slice(11, 16); } }
      return "?";
    }
    return x && x.start && x.plate === plate ? x.start.slice(11, 16) : "";
  }

  function itemHtml(item, plate, pos) {
    var x = info[item] || { id: item, ref: item, name: "", kind: "" };
    var moved = plate !== undefined && x.plate !== plate;
    var key = x.plate ? x.plate + "|" + x.seq : "";
    var cls = "stop" + (x.kind === "unload" ? " unload" : "") + (item === selected ? " selected" : "") +
      (moved ? " moved" : "") + (progress[key] ? " live-" + progress[key] : "");
    var eta = plate ? etaOf(item, plate) : "";
    return '<li class="' + cls + '" data-item="' + esc(item) + '" data-ref="' + esc(x.ref) + '"' +
      (key ? ' data-key="' + esc(key) + '"' : "") + (data.editable ? ' draggable="true"' : "") + ' tabindex="0">' +
      '<span class="pos">' + (plate ? pos : "–") + "</span>" +
      (x.kind === "unload" ? '<span class="tag unload" title="unload trip">unload</span>' : "") +
      '<span class="ref">' + esc(x.ref) + "</span>" +
      (x.tail_lift ? '<span class="tag" title="needs a van with a tail lift">lift</span>' : "") +
      '<span class="name" title="' + esc(x.name) + '">' + esc(x.name) + "</span>" +
      (eta ? '<span class="eta">' + eta + "</span>" : "") +
      (!plate && x.reason ? '<span class="reason" title="' + esc(x.detail) + '">' + esc(x.reason) + "</span>" : "") +
      "</li>";
  }

  function renderLists() {
    var box = $("stop-lists");
    if (!box) { return; }
    var changed = changedPlates();
    var html = [];
    plates.forEach(function (p) {
      var v = vans[p] || {};
      var pr = changed.indexOf(p) >= 0 ? previewRoute(p) : null;
      var r = pr || data.routes.filter(function (x) { return x.vehicle === p; })[0];
      var figs = r ? (r.distance_m / 1000).toFixed(1) + " km · " + (r.duration_s / 3600).toFixed(1) + " h" : "";
      var isOpen = openVans[p] || (selected && cur[p].indexOf(selected) >= 0);
      html.push('<details class="van' + (changed.indexOf(p) >= 0 ? " changed" : "") + '" data-vehicle="' + esc(p) + '"' +
        (isOpen ? " open" : "") + ">");
      html.push('<summary><i class="swatch" style="background:' + v.colour + '"></i><b>' + esc(p) + "</b> " +
        '<span class="muted">' + esc(v["class"] || "") + (v.tail_lift ? " · tail lift" : "") + "</span> " +
        '<span class="count">' + workCount(cur[p]) + " stops</span> " +
        '<span class="muted">' + figs + (changed.indexOf(p) >= 0 ? (pr ? " (edited)" : " (edited, unchecked)") : "") + "</span>" +
        '<span class="van-progress" data-vehicle="' + esc(p) + '"></span></summary>');
      html.push('<ol class="stop-list" data-vehicle="' + esc(p) + '">');
      cur[p].forEach(function (ref, i) { html.push(itemHtml(ref, p, i + 1)); });
      if (!workCount(cur[p])) { html.push('<li class="empty muted">no stops: the van stays at the depot</li>'); }
      html.push("</ol></details>");
    });
    var un = unassignedNow();
    html.push('<details class="van unassigned"' + (openVans[""] || (selected && un.indexOf(selected) >= 0) ? " open" : "") +
      ' data-vehicle=""><summary><b>Unassigned</b> <span class="count">' + un.length + "</span>" +
      (data.editable ? ' <span class="muted">drop a stop here to take it off the routes</span>' : "") + "</summary>");
    html.push('<ol class="stop-list" data-vehicle="">');
    un.forEach(function (ref) { html.push(itemHtml(ref, null, 0)); });
    if (!un.length) { html.push('<li class="empty muted">none</li>'); }
    html.push("</ol></details>");
    box.innerHTML = html.join("");
    updateProgress();
  }

  function updateMoveBar() {
    if (!$("move-bar")) { return; }
    var sel = $("move-van");
    var at = selected ? whereIs(selected) : { plate: null, index: -1 };
    if (!sel.options.length) {
      plates.forEach(function (p) {
        var o = document.createElement("option");
        o.value = p;
        o.textContent = p + " (" + ((vans[p] || {})["class"] || "") + ")";
        sel.appendChild(o);
      });
      var o2 = document.createElement("option");
      o2.value = "";
      o2.textContent = "— unassigned —";
      sel.appendChild(o2);
    }
    var sx = selected ? info[selected] : null;
    $("sel-label").innerHTML = sx
      ? "<b>" + (sx.kind === "unload" ? "unload at " : "") + esc(sx.ref) + "</b> " +
        (at.plate ? "on " + esc(at.plate) + " #" + (at.index + 1) : sx.kind === "unload" ? "removed" : "unassigned")
      : "No stop selected";
    $("move-btn").disabled = !selected;
    $("up-btn").disabled = !selected || !at.plate || at.index <= 0;
    $("down-btn").disabled = !selected || !at.plate || at.index >= cur[at.plate].length - 1;
    $("undo-btn").disabled = !undoStack.length;
    $("reset-btn").disabled = sameSeqs(cur, orig);
    $("save-btn").disabled = !(legal && preview && !sameSeqs(cur, orig));
  }

  // Where a stop fits best in a van's list by time: before the first stop starting later.
  function suggestPosition(ref, plate) {
    var list = (cur[plate] || []).filter(function (r) { return r !== ref; });
    var x = info[ref];
    var t = x && x.start ? sod(x.start) : x && x.windows.length ? sod(x.windows[0][0]) : null;
    if (t === null) { return list.length + 1; }
    for (var i = 0; i < list.length; i++) {
      var y = info[list[i]];
      if (y && y.start && sod(y.start) > t) { return i + 1; }
    }
    return list.length + 1;
  }

  function select(ref, from) {
    if (!info[ref]) { return; }
    selected = ref;
    var at = whereIs(ref);
    if ($("move-van")) {
      updateMoveBar();
      var target = plates.filter(function (p) { return p !== at.plate; })[0];
      if (target === undefined) { target = at.plate || ""; }
      $("move-van").value = target;
      $("move-pos").value = target ? suggestPosition(ref, target) : 1;
      $("move-pos").max = target ? cur[target].length + 1 : 1;
    }
    renderLists();
    renderTimeline();
    updateMoveBar();
    var li = document.querySelector('#stop-lists li[data-item="' + cssEsc(ref) + '"]');
    if (li && li.scrollIntoView) { li.scrollIntoView({ block: "nearest" }); }
    if (from !== "map" && mapApi() && info[ref].kind !== "unload") { mapApi().focusStop(ref); }
  }
  function cssEsc(s) { return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/"/g, '\\"'); }

  // Move a stop to a van (null: unassign) at a 1-based position in that van's new list.
  function moveTo(ref, plate, pos) {
    var at = whereIs(ref);
    var before = clone(cur);
    if (at.plate) { cur[at.plate].splice(at.index, 1); }
    if (plate) {
      var i = Math.max(0, Math.min((pos || 1) - 1, cur[plate].length));
      cur[plate].splice(i, 0, ref);
    }
    if (sameSeqs(before, cur)) { return; }
    undoStack.push(before);
    if (plate) { openVans[plate] = true; }
    changed();
  }

  function changed() {
    legal = false;
    renderLists();
    renderTimeline();
    updateMoveBar();
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 150);
  }

  // --- the legality check, preview and save -------------------------------------------
  var post = window.loopvanApi.post;

  function problemsOf(body) {
    var out = [];
    (body.violations || []).forEach(function (v) {
      out.push([v.vehicle, v.stop, v.at ? "at " + v.at : "", v.rule ? "[" + v.rule + "]" : "", v.message]
        .filter(Boolean).join(" "));
    });
    var errs = (body.errors && (body.errors.json || body.errors)) || {};
    Object.keys(errs).forEach(function (k) {
      var msgs = Array.isArray(errs[k]) ? errs[k] : [errs[k]];
      msgs.forEach(function (m) { out.push(k.replace(/^routes\./, "") + ": " + (typeof m === "string" ? m : JSON.stringify(m))); });
    });
    return out;
  }

  function setVerdict(cls, html) {
    var v = $("verdict");
    if (!v) { return; }
    v.className = "verdict " + cls;
    v.innerHTML = html;
  }

  function planFigures(doc) {
    var f = { vans: 0, stops: 0, km: 0, hours: 0, unassigned: doc.unassigned.length, load: 0, co2: 0, co2known: true };
    var loads = [];
    doc.routes.forEach(function (r) {
      f.vans += 1;
      f.km += r.distance_m / 1000;
      f.hours += r.duration_s / 3600;
      f.stops += r.stops.filter(isMovable).length;
      var v = vans[r.vehicle];
      var peak = Math.max.apply(null, r.stops.map(function (s) { return s.load_after.kg; }).concat([0]));
      if (v && v.capacity_kg) { loads.push(100 * peak / v.capacity_kg); }
      if (v && v.kg_co2e_per_km != null) { f.co2 += r.distance_m / 1000 * v.kg_co2e_per_km; } else { f.co2known = false; }
    });
    f.load = loads.length ? loads.reduce(function (a, b) { return a + b; }, 0) / loads.length : 0;
    return f;
  }
  var base = planFigures({ routes: data.routes, unassigned: data.unassigned });
  var figOriginal = {};
  document.querySelectorAll("#figures [data-fig]").forEach(function (d) { figOriginal[d.dataset.fig] = d.querySelector("b").innerHTML; });

  function showFigures(f) {
    function put(name, value, delta, digits, suffix) {
      var d = document.querySelector('#figures [data-fig="' + name + '"]');
      if (!d) { return; }
      var b = d.querySelector("b");
      if (value === null) { b.innerHTML = figOriginal[name]; d.classList.remove("preview"); return; }
      b.innerHTML = value.toFixed(digits) + (suffix || "") +
        (Math.abs(delta) >= Math.pow(10, -digits) / 2 ? ' <small class="delta">' + signed(delta, digits) + "</small>" : "");
      d.classList.add("preview");
    }
    var keys = ["vans", "stops", "unassigned", "km", "hours", "load_pct", "co2_vans"];
    if (!f) { keys.forEach(function (k) { put(k, null); }); return; }
    put("vans", f.vans, f.vans - base.vans, 0);
    put("stops", f.stops, f.stops - base.stops, 0);
    put("unassigned", f.unassigned, f.unassigned - base.unassigned, 0);
    put("km", f.km, f.km - base.km, 1);
    put("hours", f.hours, f.hours - base.hours, 1);
    put("load_pct", f.load, f.load - base.load, 0, "%");
    if (f.co2known && base.co2known) { put("co2_vans", f.co2, f.co2 - base.co2, 0); }
  }

  function showPreviewOnMap() {
    var m = mapApi();
    if (!m) { return; }
    if (!preview) { m.clearPreview(); return; }
    var ch = changedPlates();
    var shown = ch.map(function (p) { return previewRoute(p) || { vehicle: p, stops: [] }; });
    m.showPreview(shown, colours);  // a van left empty is hidden: it stays at the depot
  }

  function check() {
    var mine = ++checkSeq;
    if (sameSeqs(cur, orig)) {
      preview = null;
      legal = false;
      setVerdict("idle", "No changes yet.");
      showFigures(null);
      showPreviewOnMap();
      renderLists();
      renderTimeline();
      updateMoveBar();
      return;
    }
    setVerdict("pending", "Checking the edit…");
    updateMoveBar();
    post("/api/v1/plans/" + planId + "/edit", { routes: payload(), check_only: true }).then(function (res) {
      if (mine !== checkSeq) { return; }  // a newer change is being checked
      if (res.status === 200 && res.body.legal) {
        preview = res.body.preview;
        legal = true;
        var f = planFigures(preview);
        var ch = changedPlates();
        var lines = ch.map(function (p) {
          var r = previewRoute(p);
          if (!r) { return "<li>" + esc(p) + ": not used</li>"; }
          return "<li>" + esc(p) + ": " + r.stops.filter(isMovable).length + " stops, " +
            r.stops[0].departure.slice(11, 16) + "–" + r.stops[r.stops.length - 1].arrival.slice(11, 16) + ", " +
            (r.distance_m / 1000).toFixed(1) + " km</li>";
        });
        setVerdict("legal", "<b>✓ Legal</b> — re-timed and every rule kept. " +
          f.km.toFixed(1) + " km (" + signed(f.km - base.km, 1) + ") · " +
          f.hours.toFixed(1) + " van-h (" + signed(f.hours - base.hours, 1) + ") · " +
          f.vans + " vans · " + f.unassigned + " unassigned" + (lines.length ? "<ul>" + lines.join("") + "</ul>" : ""));
        showFigures(f);
      } else {
        preview = null;
        legal = false;
        var probs = problemsOf(res.body);
        var head = res.status === 409 ? "Cannot be edited" : res.status === 422 ? "✗ Not legal" : "✗ Check failed (" + res.status + ")";
        setVerdict("illegal", "<b>" + head + "</b> — " + esc(res.body.message || "") +
          (probs.length ? "<ul>" + probs.map(function (p) { return "<li>" + esc(p) + "</li>"; }).join("") + "</ul>" : ""));
        showFigures(null);
      }
      showPreviewOnMap();
      renderLists();
      renderTimeline();
      updateMoveBar();
    }).catch(function (e) {
      if (mine !== checkSeq) { return; }
      legal = false;
      setVerdict("illegal", "<b>✗ Check failed</b> — " + esc(e));
      updateMoveBar();
    });
  }

  function save() {
    if (!legal) { return; }
    $("save-btn").disabled = true;
    setVerdict("pending", "Saving as a new version…");
    post("/api/v1/plans/" + planId + "/edit", { routes: payload(), check_only: false }).then(function (res) {
      if (res.status === 201) {
        setVerdict("legal", "<b>Saved</b> as plan #" + res.body.plan_id + " (version " + res.body.version + ", " +
          esc(res.body.status) + ") — opening it…");
        window.location.assign("/plans/" + res.body.plan_id);
      } else {
        legal = false;
        var probs = problemsOf(res.body);
        setVerdict("illegal", "<b>Not saved</b> — " + esc(res.body.message || res.status) +
          (probs.length ? "<ul>" + probs.map(function (p) { return "<li>" + esc(p) + "</li>"; }).join("") + "</ul>" : ""));
        updateMoveBar();
      }
    }).catch(function (e) { setVerdict("illegal", "<b>Not saved</b> — " + esc(e)); updateMoveBar(); });
  }

  // --- events --------------------------------------------------------------------------
  var lists = $("stop-lists");
  if (lists) {
    lists.addEventListener("click", function (ev) {
      var li = ev.target.closest("li.stop");
      if (!li) { return; }
      if (data.editable) { select(li.dataset.item, "list"); } else if (mapApi()) { mapApi().focusStop(li.dataset.ref); }
    });
    lists.addEventListener("keydown", function (ev) {
      var li = ev.target.closest && ev.target.closest("li.stop");
      if (li && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); li.click(); }
    });
    lists.addEventListener("toggle", function (ev) {
      var d = ev.target;
      if (d.tagName === "DETAILS") { openVans[d.dataset.vehicle] = d.open; }
    }, true);
  }
  var tl = $("timeline");
  if (tl) {
    tl.addEventListener("click", function (ev) {
      var b = ev.target.closest(".tl-block[data-ref]");
      if (!b) { return; }
      if (data.editable) { select(b.dataset.ref, "timeline"); } else if (mapApi()) { mapApi().focusStop(b.dataset.ref); }
    });
  }
  document.addEventListener("loopvan:select", function (ev) { select(ev.detail.ref, ev.detail.from); });
  document.querySelectorAll("tr.unassigned-row").forEach(function (row) {
    row.addEventListener("click", function () { if (data.editable) { select(row.dataset.ref, "table"); } });
  });

  if (data.editable && $("move-bar")) {
    $("move-van").addEventListener("change", function () {
      var p = $("move-van").value;
      $("move-pos").value = p && selected ? suggestPosition(selected, p) : 1;
      $("move-pos").max = p ? cur[p].length + 1 : 1;
    });
    $("move-btn").addEventListener("click", function () {
      if (!selected) { return; }
      var p = $("move-van").value || null;
      moveTo(selected, p, parseInt($("move-pos").value, 10) || 1);
      select(selected, "bar");
    });
    $("up-btn").addEventListener("click", function () {
      var at = whereIs(selected);
      if (at.plate) { moveTo(selected, at.plate, at.index); select(selected, "bar"); }
    });
    $("down-btn").addEventListener("click", function () {
      var at = whereIs(selected);
      if (at.plate) { moveTo(selected, at.plate, at.index + 2); select(selected, "bar"); }
    });
    $("undo-btn").addEventListener("click", function () {
      if (!undoStack.length) { return; }
      cur = undoStack.pop();
      changed();
    });
    $("reset-btn").addEventListener("click", function () {
      undoStack.push(clone(cur));
      cur = clone(orig);
      changed();
    });
    $("save-btn").addEventListener("click", save);

    // Drag and drop within and between the vans' lists (and onto "Unassigned").
    var dragRef = null;
    lists.addEventListener("dragstart", function (ev) {
      var li = ev.target.closest && ev.target.closest("li.stop");
      if (!li) { return; }
      dragRef = li.dataset.item;
      ev.dataTransfer.effectAllowed = "move";
      ev.dataTransfer.setData("text/plain", dragRef);
      li.classList.add("dragging");
    });
    lists.addEventListener("dragend", function () {
      dragRef = null;
      lists.querySelectorAll(".drop-before, .drop-after, .drop-into").forEach(function (x) {
        x.classList.remove("drop-before", "drop-after", "drop-into");
      });
    });
    function dropIndex(ol, y) {  // 1-based position among the list's other stops
      var items = Array.prototype.filter.call(ol.querySelectorAll("li.stop"), function (li) { return li.dataset.item !== dragRef; });
      for (var i = 0; i < items.length; i++) {
        var r = items[i].getBoundingClientRect();
        if (y < r.top + r.height / 2) { return { pos: i + 1, li: items[i], where: "before" }; }
      }
      return { pos: items.length + 1, li: items[items.length - 1] || null, where: "after" };
    }
    lists.addEventListener("dragover", function (ev) {
      var target = ev.target.closest && (ev.target.closest("ol.stop-list") || ev.target.closest("details.van"));
      if (!target || !dragRef) { return; }
      ev.preventDefault();
      var ol = target.tagName === "OL" ? target : target.querySelector("ol.stop-list");
      lists.querySelectorAll(".drop-before, .drop-after, .drop-into").forEach(function (x) {
        x.classList.remove("drop-before", "drop-after", "drop-into");
      });
      var d = dropIndex(ol, ev.clientY);
      if (d.li && ol.dataset.vehicle) { d.li.classList.add(d.where === "before" ? "drop-before" : "drop-after"); }
      else { ol.classList.add("drop-into"); }
    });
    lists.addEventListener("drop", function (ev) {
      var target = ev.target.closest && (ev.target.closest("ol.stop-list") || ev.target.closest("details.van"));
      if (!target || !dragRef) { return; }
      ev.preventDefault();
      var ol = target.tagName === "OL" ? target : target.querySelector("ol.stop-list");
      var plate = ol.dataset.vehicle || null;
      var ref = dragRef;
      var pos = dropIndex(ol, ev.clientY).pos;
      dragRef = null;
      moveTo(ref, plate, pos);
      select(ref, "drag");
    });
  }

  // --- approve and publish -------------------------------------------------------------
  function setStatus(st) {
    var b = $("plan-status");
    if (b) { b.textContent = st; b.dataset.status = st; b.className = "status status-" + st; }
    if ($("approve-btn")) { $("approve-btn").disabled = st !== "draft"; }
    if ($("publish-btn")) { $("publish-btn").disabled = st !== "approved"; }
  }
  function actionMsg(cls, text) {
    var m = $("action-msg");
    if (m) { m.className = "msg " + cls; m.textContent = text; }
  }
  function action(name, button) {
    button.disabled = true;
    actionMsg("pending", name === "approve" ? "Approving…" : "Publishing…");
    post("/api/v1/plans/" + planId + "/" + name, {}).then(function (res) {
      if (res.ok) {
        setStatus(res.body.status);
        actionMsg("ok", name === "approve" ? "Approved (plan #" + res.body.plan_id + ")." :
          "Published: drivers get version " + res.body.version + " routes.");
        if (name === "publish") { setTimeout(function () { window.location.reload(); }, 800); }
      } else {
        actionMsg("error", res.body.message || ("HTTP " + res.status));
        setStatus($("plan-status").dataset.status);
      }
    }).catch(function (e) { actionMsg("error", String(e)); setStatus($("plan-status").dataset.status); });
  }
  if ($("approve-btn")) { $("approve-btn").addEventListener("click", function () { action("approve", this); }); }
  if ($("publish-btn")) { $("publish-btn").addEventListener("click", function () { action("publish", this); }); }

  // --- live progress -------------------------------------------------------------------
  function updateProgress() {
    var box = $("live-progress");
    if (!box) { return; }
    var rows = [];
    data.routes.forEach(function (r) {
      var work = r.stops.filter(isMovable);
      var done = work.filter(function (s) { return progress[r.vehicle + "|" + s.seq] === "done"; }).length;
      var skipped = work.filter(function (s) { return progress[r.vehicle + "|" + s.seq] === "skipped"; }).length;
      var pct = work.length ? Math.round(100 * (done + skipped) / work.length) : 0;
      rows.push('<div class="van-live" data-vehicle="' + esc(r.vehicle) + '"><i class="swatch" style="background:' +
        (colours[r.vehicle] || "#555") + '"></i>' + esc(r.vehicle) + ' <span class="bar"><span style="width:' + pct +
        '%"></span></span> ' + done + "/" + work.length + " done" + (skipped ? ", " + skipped + " skipped" : "") + "</div>");
      var s2 = document.querySelector('.van-progress[data-vehicle="' + cssEsc(r.vehicle) + '"]');
      if (s2) { s2.textContent = done + skipped ? " · " + done + "/" + work.length + " done" : ""; }
    });
    box.innerHTML = rows.join("");
  }
  function localTime(iso) {
    var s = String(iso);
    var d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s + "Z");
    if (isNaN(d)) { return s; }
    return d.toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false });
  }
  function stopByKey(plate, seq) {
    var r = data.routes.filter(function (x) { return x.vehicle === plate; })[0];
    return r ? r.stops.filter(function (s) { return s.seq === seq; })[0] : null;
  }
  function onLiveEvent(d) {
    var key = d.vehicle + "|" + d.seq;
    var st = LIVE_DONE[d.kind] || "arrived";
    if (st === "arrived" && (progress[key] === "done" || progress[key] === "skipped")) { st = progress[key]; }
    progress[key] = st;
    if (mapApi()) { mapApi().markStop(d.vehicle, d.seq, st); }
    document.querySelectorAll('[data-key="' + cssEsc(key) + '"]').forEach(function (x) {
      x.classList.remove("live-arrived", "live-done", "live-skipped");
      x.classList.add("live-" + st);
    });
    var s = stopByKey(d.vehicle, d.seq);
    var feed = $("live-feed");
    if (feed) {
      var kg = d.payload && d.payload.kg ? Object.keys(d.payload.kg).reduce(function (a, k) { return a + (+d.payload.kg[k] || 0); }, 0) : null;
      var li = document.createElement("li");
      li.className = "live-" + st;
      li.dataset.event = d.event_id;
      li.innerHTML = "<time>" + esc(localTime(d.recorded_at)) + "</time> " + esc(d.vehicle) + " #" + d.seq + " <b>" +
        esc(d.kind) + "</b> " + esc(s ? (s.kind === "break" ? "break" : s.id + " " + s.name) : "") +
        (kg ? " · " + kg + " kg" : "") + (d.payload && d.payload.reason ? " · " + esc(d.payload.reason) : "");
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 50) { feed.removeChild(feed.lastChild); }
    }
    var badge = $("plan-status");
    if (badge && badge.dataset.status === "published") { setStatus("in_progress"); }
    updateProgress();
    var live = $("live");
    if (live) { live.dataset.events = (+(live.dataset.events || 0) + 1); }
  }
  if (data.live) {
    updateProgress();
    if (window.EventSource) {
      var es = new EventSource("/api/v1/plans/" + planId + "/live");
      es.addEventListener("stop", function (e) {
        try { onLiveEvent(JSON.parse(e.data)); } catch (err) { console.warn(err); }
      });
      es.onopen = function () { var x = $("live-state"); if (x) { x.textContent = "live"; x.className = "pill on"; } };
      es.onerror = function () { var x = $("live-state"); if (x) { x.textContent = "reconnecting…"; x.className = "pill off"; } };
      window.addEventListener("beforeunload", function () { es.close(); });
    } else {
      var x = $("live-state");
      if (x) { x.textContent = "no live updates in this browser"; }
    }
  }

  renderLists();
  renderTimeline();
  updateMoveBar();
  document.body.classList.add("editor-ready");
})();
