// Resident pages: book a pickup (place, materials, a suggested slot), the confirmation,
// and the status page (history, cancel). Talks to the resident API only.
//
// Every string comes from the page's dictionary (config.t, one per language, kept in
// web/resident.py). The map's base layer is our own road graph as GeoJSON, fetched only
// when the map scrolls into view: no tiles, no CDN.
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("resident-config").textContent);
  var T = cfg.t;
  var LOCALE = cfg.lang === "zh" ? "zh-CN" : "en-GB";
  var STORE = "loopvan.resident.v1";
  var page = document.body.getAttribute("data-page");

  // --- small helpers ------------------------------------------------------------------

  function t(key, vars) {
    var s = Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) { return k in vars ? String(vars[k]) : m; });
    }
    return s;
  }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "class") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function spinner() { return el("span", { "class": "r-spinner", "aria-hidden": "true" }); }
  function round(x, digits) { var f = Math.pow(10, digits); return Math.round(x * f) / f; }

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "{}") || {}; } catch (e) { return {}; }
  }
  function save(d) {
    try { window.localStorage.setItem(STORE, JSON.stringify(d)); } catch (e) { /* private mode */ }
  }
  /** Keep a booking's reference and phone on this device, newest first (ten at most). */
  function remember(doc, phone, name) {
    var d = load();
    if (name) { d.name = name; }
    if (phone) { d.phone = phone; }
    var list = (d.bookings || []).filter(function (b) { return b.reference !== doc.reference; });
    list.unshift({ reference: doc.reference, phone: phone, date: doc.date,
      start: doc.window && doc.window.start, end: doc.window && doc.window.end, status: doc.status });
    d.bookings = list.slice(0, 10);
    save(d);
  }
  function phoneFor(ref) {
    var d = load();
    var hit = (d.bookings || []).filter(function (b) { return b.reference === ref; })[0];
    return hit ? hit.phone : (d.phone || "");
  }

  /** fetch JSON; resolves {status, ok, data}; rejects only on network failure or abort. */
  function api(method, url, body, headers, signal) {
    var h = { "Accept": "application/json" };
    if (body !== undefined) { h["Content-Type"] = "application/json"; }
    if (cfg.csrf && method !== "GET") { h["X-CSRF-Token"] = cfg.csrf; }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(url, {
      method: method, headers: h, credentials: "same-origin", signal: signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { status: r.status, ok: r.ok, data: data };
      });
    });
  }
  function bookingUrl(ref) { return cfg.api.bookings + "/" + encodeURIComponent(ref); }

  /** A random idempotency key (getRandomValues works outside secure contexts too). */
  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "rb-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- dates, statuses, materials in the chosen language --------------------------------

  var dayFmt = new Intl.DateTimeFormat(LOCALE, { weekday: "short", month: "long", day: "numeric", timeZone: "UTC" });
  var stampFmt = new Intl.DateTimeFormat(LOCALE, { month: "numeric", day: "numeric", hour: "2-digit",
    minute: "2-digit", hour12: false, timeZone: cfg.timezone });

  function addDays(iso, n) {
    var d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function dayLabel(iso) {
    var s = dayFmt.format(new Date(iso + "T00:00:00Z"));
    return iso === addDays(cfg.today, 1) ? t("slot.tomorrow") + " · " + s : s;
  }
  function stampLabel(at) {
    if (!at) { return ""; }
    var iso = /[zZ]|[+-]\d\d:?\d\d$/.test(at) ? at : at + "Z";  // SQLite drops the offset: UTC
    var d = new Date(iso);
    return isNaN(d.getTime()) ? at : stampFmt.format(d);
  }
  function statusLabel(st) { return t("st." + st); }
  function materialsLabel(items) {
    return (items || []).map(function (x) {
      return t("mat." + x.material).replace(/[（(].*$/, "") + " " + round(x.kg, 1) + " " + t("qty.kg");
    }).join(cfg.lang === "zh" ? "、" : ", ");
  }
  function windowLabel(doc) { return dayLabel(doc.date) + " " + doc.window.start + "–" + doc.window.end; }

  function reasonLabel(reason) {
    var rules = [
      [/no room on the routes/, "reason.no_room"], [/fully booked/, "reason.window_full"],
      [/fleet is full/, "reason.fleet_full"], [/no van works/, "reason.no_van_window"],
      [/no van in this district/, "reason.no_van"], [/reach/, "reason.unreachable"],
    ];
    for (var i = 0; i < rules.length; i++) { if (rules[i][0].test(reason || "")) { return t(rules[i][1]); } }
    return cfg.lang === "en" && reason ? reason : t("reason.other");
  }

  // --- API field errors, shown next to their fields --------------------------------------

  /** {"resident": {"phone": [..]}, "materials": {"0": {"kg": [..]}}} -> dotted keys. */
  function flatten(errs, prefix, out) {
    Object.keys(errs || {}).forEach(function (k) {
      var v = errs[k];
      var key = /^\d+$/.test(k) ? prefix + "[" + k + "]" : (prefix ? prefix + "." + k : k);
      if (Array.isArray(v)) { out[key] = (out[key] || []).concat(v.map(String)); }
      else if (v && typeof v === "object") { flatten(v, key, out); }
      else { out[key] = [String(v)]; }
    });
    return out;
  }
  function apiErrors(data) { return flatten((data && data.errors && data.errors.json) || {}, "", {}); }

  /** The server's English problem, in the page's language where we know it. */
  function localize(field, msg) {
    var f = field.replace(/\[\d+\]/g, "[]");
    var place = f === "lat/lon" || f === "lat" || f === "lon" || f === "coordinates";
    if (place) {
      if (/not in a district/.test(msg)) { return t("err.outside"); }
      if (/nearest road/.test(msg)) { return t("err.far_road"); }
      return t("err.point");
    }
    if (/^missing$|Missing data|may not be null|minimum length 1\b|between 1 and/i.test(msg)) {
      return f.indexOf("materials") === 0 ? t("err.materials") : t("err.required");
    }
    if (f === "resident.phone") { return t("err.phone"); }
    if (f === "materials") {
      return /more than one pickup/.test(msg) ? t("err.total", { max: cfg.max_total_kg }) : t("err.materials");
    }
    if (/^materials\[\]\.(kg|m3)$/.test(f)) { return t("err.kg", { max: cfg.max_item_kg }); }
    if (f === "date") { return t("err.date"); }
    if (f === "window" || f.indexOf("window.") === 0) { return t("err.window"); }
    if (/Longer than maximum|Length must be between/.test(msg)) { return t("err.too_long"); }
    return msg;
  }

  /** Where an API field's problem is shown on the booking form. */
  function errorSlot(field, sent) {
    var m = /^materials\[(\d+)\]/.exec(field);
    if (m) {
      var item = (sent || [])[Number(m[1])];
      return item ? "materials." + item.material : "materials";
    }
    if (field === "resident") { return "resident.name"; }
    if (["lat", "lon", "lat/lon", "coordinates"].indexOf(field) >= 0) { return "lat/lon"; }
    if (field === "date" || field === "window" || field.indexOf("window.") === 0) { return "slot"; }
    return field;
  }

  /** Show problems next to their fields; returns how many found a field. ``localized``:
   * the messages are ours already; else they are the API's, keyed by its field names. */
  function showErrors(errs, options) {
    var opts = options || {};
    var shown = 0;
    var general = [];
    var firstField = null;
    Object.keys(errs).forEach(function (field) {
      var msgs = errs[field].map(function (msg) { return opts.localized ? msg : localize(field, msg); });
      var slot = opts.localized ? field : errorSlot(field, opts.sent);
      var box = $('[data-error-for="' + slot + '"]');
      if (!box) { general = general.concat(msgs); return; }
      var prev = box.textContent ? box.textContent + " " : "";
      box.textContent = prev + msgs.filter(function (x, i, a) { return a.indexOf(x) === i; }).join(" ");
      var holder = box.closest("[data-field]");
      if (holder) {
        holder.classList.add("r-invalid");
        var input = $("input:not([type=checkbox]), textarea", holder);
        if (input) { input.setAttribute("aria-invalid", "true"); }
        if (!firstField) { firstField = holder; }
      }
      shown += 1;
    });
    if (firstField && opts.focus) {
      firstField.scrollIntoView({ block: "center", behavior: "smooth" });
      var focusable = $("input:not([type=checkbox]), textarea, button", firstField);
      if (focusable) { focusable.focus({ preventScroll: true }); }
    }
    return { shown: shown, general: general };
  }
  function clearErrors(slots) {
    $$("[data-error-for]").forEach(function (box) {
      var key = box.getAttribute("data-error-for");
      if (slots && !slots.some(function (s) { return key === s || key.indexOf(s + ".") === 0; })) { return; }
      box.textContent = "";
      var holder = box.closest("[data-field]");
      if (holder) {
        holder.classList.remove("r-invalid");
        $$("[aria-invalid]", holder).forEach(function (i) { i.removeAttribute("aria-invalid"); });
      }
    });
  }

  // --- the booking page ---------------------------------------------------------------

  function bookPage() {
    var form = $("#book-form");
    var slotsBox = $("#slots");
    var formError = $("#form-error");
    var submit = $("#submit");
    var state = { point: null, slot: null, days: 3, slotSeq: 0, slotTimer: null, slotCtl: null,
      slotFp: null, slotData: null, key: null, keyFp: null, submitting: false, district: null };
    var byCode = {};
    cfg.materials.forEach(function (m) { byCode[m.code] = m; });

    var nameIn = $("#f-name");
    var phoneIn = $("#f-phone");
    var addressIn = $("#f-address");
    var kept = load();
    if (kept.name && !nameIn.value) { nameIn.value = kept.name; }
    if (kept.phone && !phoneIn.value) { phoneIn.value = kept.phone; }

    // map: tap (or drag the pin, or "use my location") to set the point
    var mapEl = $("#map");
    var mapStatus = $("#map-status");
    var pointLabel = $("#point-label");
    var map = L.map(mapEl, { preferCanvas: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("© OpenStreetMap contributors");
    map.setView([22.545, 114.02], 12);
    var marker = null;

    function setPoint(latlng, how) {
      state.point = { lat: round(latlng.lat, 6), lon: round(latlng.lng, 6) };
      if (!marker) {
        marker = L.marker(latlng, { draggable: true, autoPan: true }).addTo(map);
        marker.on("dragend", function () { setPoint(marker.getLatLng(), "drag"); });
      } else {
        marker.setLatLng(latlng);
      }
      if (how === "locate") { map.setView(latlng, Math.max(map.getZoom(), 17)); }
      else if (how === "tap" && map.getZoom() < 14) { map.setView(latlng, 15); }
      state.district = null;
      pointLabel.textContent = t("map.picked", { lat: state.point.lat.toFixed(5), lon: state.point.lon.toFixed(5) });
      mapEl.setAttribute("data-lat", state.point.lat);
      mapEl.setAttribute("data-lon", state.point.lon);
      clearErrors(["lat/lon"]);
      scheduleSlots();
    }
    map.on("click", function (e) { setPoint(e.latlng, "tap"); });
    map.on("keypress", function (e) {  // keyboard: pan with the arrows, Enter drops the pin
      if (e.originalEvent.key === "Enter") { setPoint(map.getCenter(), "key"); }
    });

    var baseRequested = false;
    function loadBase() {
      if (baseRequested) { return; }
      baseRequested = true;
      fetch(cfg.api.network, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      }).then(function (gj) {
        var layer = L.geoJSON(gj, {
          interactive: false,
          style: function (f) {
            return f.properties.major ? { color: "#a29c88", weight: 2.4 } : { color: "#cbc6b6", weight: 1.1 };
          },
        }).addTo(map);
        if (!state.point && layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
        mapStatus.hidden = true;
        mapEl.classList.add("ready");
      }).catch(function () {
        clear(mapStatus);
        mapStatus.textContent = t("map.failed");
        mapStatus.classList.add("r-map-failed");
        mapEl.classList.add("ready", "base-failed");
      });
    }
    if ("IntersectionObserver" in window) {
      var io = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) { io.disconnect(); loadBase(); }
      }, { rootMargin: "200px" });
      io.observe(mapEl);
    } else {
      loadBase();
    }

    var locate = $("#locate");
    if (navigator.geolocation) {
      locate.hidden = false;
      locate.addEventListener("click", function () {
        locate.disabled = true;
        locate.textContent = t("map.locating");
        clearErrors(["lat/lon"]);
        navigator.geolocation.getCurrentPosition(function (pos) {
          locate.disabled = false;
          locate.textContent = t("map.locate");
          setPoint(L.latLng(pos.coords.latitude, pos.coords.longitude), "locate");  // WGS84
        }, function () {
          locate.disabled = false;
          locate.textContent = t("map.locate");
          showErrors({ "lat/lon": [t("map.locate_failed")] }, { localized: true });
        }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
      });
    }

    // the address: streets named in it (or typed so far) put the pin on the street
    var streetsBox = $("#streets");
    var streetSeq = 0;
    var streetTimer = null;
    function streetLabel(s) {
      if (cfg.lang === "zh" || !s.name_en) { return s.name; }
      return s.name_en + " " + s.name;
    }
    function showStreets(list) {
      clear(streetsBox);
      streetsBox.hidden = !list.length;
      if (!list.length) { return; }
      streetsBox.appendChild(el("span", { "class": "r-hint", text: t("street.found") }));
      list.forEach(function (s) {
        var where = s.district ? (cfg.districts[s.district.code] || s.district.name_zh) : t("street.outside");
        var b = el("button", { type: "button", "class": "r-street" + (s.district ? "" : " r-street-out"),
          "data-street": s.name }, [el("b", { text: streetLabel(s) }), " ", el("small", { text: where })]);
        b.addEventListener("click", function () {
          var bb = s.bbox;
          map.fitBounds([[bb[1], bb[0]], [bb[3], bb[2]]], { maxZoom: 17, padding: [24, 24] });
          setPoint(L.latLng(s.lat, s.lon), "street");
          var note = $("#street-note") || streetsBox.appendChild(el("p", { id: "street-note", "class": "r-hint" }));
          note.textContent = t("street.placed", { street: streetLabel(s) });
          $$(".r-street", streetsBox).forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
          mapEl.scrollIntoView({ behavior: "smooth", block: "center" });
        });
        streetsBox.appendChild(b);
      });
    }
    addressIn.addEventListener("input", function () {
      clearTimeout(streetTimer);
      var q = addressIn.value.trim();
      if (q.length < 2) { showStreets([]); return; }
      streetTimer = setTimeout(function () {
        var seq = ++streetSeq;
        api("GET", cfg.api.streets + "?limit=4&q=" + encodeURIComponent(q.slice(0, 120))).then(function (res) {
          if (seq === streetSeq) { showStreets(res.ok && Array.isArray(res.data) ? res.data : []); }
        }).catch(function () { /* offline: the map still works */ });
      }, 350);
    });

    // materials: tick, then a rough weight (one-tap sizes, or a number with a stepper)
    function selectedMaterials() {
      return $$(".r-mat").filter(function (li) { return $("input[type=checkbox]", li).checked; }).map(function (li) {
        var code = li.getAttribute("data-material");
        var kg = parseFloat($(".r-kg", li).value);
        var m3 = isFinite(kg) && kg > 0 ? Math.min(cfg.max_m3, round(kg * byCode[code].m3_per_kg, 3)) : 0;
        return { material: code, kg: isFinite(kg) ? round(kg, 1) : NaN, m3: m3 };
      });
    }
    function materialProblems(items) {
      var errs = {};
      if (!items.length) { errs.materials = [t("err.materials")]; return errs; }
      var total = 0;
      items.forEach(function (x) {
        if (!isFinite(x.kg) || x.kg <= 0 || x.kg > cfg.max_item_kg) {
          errs["materials." + x.material] = [t("err.kg", { max: cfg.max_item_kg })];
        } else { total += x.kg; }
      });
      if (total > cfg.max_total_kg) { errs.materials = [t("err.total", { max: cfg.max_total_kg })]; }
      return errs;
    }
    function syncChips(li) {
      var v = parseFloat($(".r-kg", li).value);
      $$(".r-chip", li).forEach(function (c) { c.setAttribute("aria-pressed", String(Number(c.getAttribute("data-kg")) === v)); });
    }
    function materialsChanged() {
      var items = selectedMaterials();
      var total = items.reduce(function (s, x) { return s + (isFinite(x.kg) && x.kg > 0 ? x.kg : 0); }, 0);
      $("#total").textContent = items.length ? t("qty.total", { kg: round(total, 1) }) : "";
      clearErrors(["materials"]);
      // bad numbers show at once; "choose at least one" waits for the submit
      showErrors(items.length ? materialProblems(items) : {}, { localized: true });
      scheduleSlots();
    }
    $$(".r-mat").forEach(function (li) {
      var box = $("input[type=checkbox]", li);
      var qty = $(".r-qty", li);
      var kg = $(".r-kg", li);
      box.addEventListener("change", function () {
        qty.hidden = !box.checked;
        li.classList.toggle("on", box.checked);
        syncChips(li);
        materialsChanged();
      });
      $$(".r-chip", li).forEach(function (chip) {
        chip.addEventListener("click", function () {
          kg.value = chip.getAttribute("data-kg");
          syncChips(li);
          materialsChanged();
        });
      });
      $$(".r-step-btn", li).forEach(function (b) {
        b.addEventListener("click", function () {
          var v = parseFloat(kg.value) || 0;
          var up = b.getAttribute("data-step") === "1";
          v = up ? (v < 5 ? v + 1 : v + 5) : (v <= 5 ? v - 1 : v - 5);
          kg.value = String(Math.max(1, Math.min(cfg.max_item_kg, Math.round(v))));
          syncChips(li);
          materialsChanged();
        });
      });
      kg.addEventListener("input", function () { syncChips(li); materialsChanged(); });
    });

    // slots: fetched once place and materials are known; big buttons grouped by date
    function slotRequest() {
      if (!state.point) { return null; }
      var items = selectedMaterials();
      if (!items.length || Object.keys(materialProblems(items)).length) { return null; }
      return { lat: state.point.lat, lon: state.point.lon, coordinates: "wgs84", materials: items, days: state.days };
    }
    function slotMessage(text, retry) {
      clear(slotsBox);
      slotsBox.setAttribute("aria-busy", "false");
      slotsBox.appendChild(el("p", { "class": "r-muted", text: text }));
      if (retry) {
        var b = el("button", { type: "button", "class": "r-btn", text: t("slot.retry") });
        b.addEventListener("click", function () { state.slotFp = null; scheduleSlots(true); });
        slotsBox.appendChild(b);
      }
    }
    function scheduleSlots(now) {
      window.clearTimeout(state.slotTimer);
      var body = slotRequest();
      if (!body) {
        state.slotSeq += 1;
        if (state.slotCtl) { state.slotCtl.abort(); }
        state.slotFp = null;
        state.slotData = null;
        setSlot(null);
        slotMessage(t("slot.need"));
        return;
      }
      var fp = JSON.stringify(body);
      if (fp === state.slotFp) { return; }
      state.slotFp = fp;
      state.slotTimer = window.setTimeout(function () { fetchSlots(body); }, now ? 0 : 600);
    }
    function fetchSlots(body) {
      var seq = ++state.slotSeq;
      if (state.slotCtl) { state.slotCtl.abort(); }
      state.slotCtl = window.AbortController ? new AbortController() : null;
      clear(slotsBox);
      slotsBox.setAttribute("aria-busy", "true");
      slotsBox.appendChild(el("p", { "class": "r-loading" }, [spinner(), t("slot.loading")]));
      api("POST", cfg.api.slots, body, null, state.slotCtl && state.slotCtl.signal).then(function (res) {
        if (seq !== state.slotSeq) { return; }
        slotsBox.setAttribute("aria-busy", "false");
        clearErrors(["lat/lon", "materials"]);
        if (res.ok) {
          state.slotData = res.data;
          state.district = res.data.district;
          pointLabel.textContent = t("map.picked", { lat: body.lat.toFixed(5), lon: body.lon.toFixed(5) }) +
            " · " + t("map.served", { district: cfg.districts[res.data.district] || res.data.district_name || res.data.district });
          renderSlots(res.data);
        } else if (res.status === 422) {
          state.slotData = null;
          setSlot(null);
          showErrors(apiErrors(res.data), { sent: body.materials });
          slotMessage(t("slot.fix"));
        } else {
          state.slotFp = null;
          slotMessage(t("slot.failed"), true);
        }
      }).catch(function (err) {
        if (seq !== state.slotSeq || (err && err.name === "AbortError")) { return; }
        state.slotFp = null;
        slotMessage(t("slot.failed"), true);
      });
    }
    function renderSlots(data) {
      clear(slotsBox);
      var days = {};
      function day(d) { return days[d] || (days[d] = { ok: [], no: [] }); }
      (data.slots || []).forEach(function (s) { day(s.date).ok.push(s); });
      (data.refused || []).forEach(function (r) { day(r.date).no.push(r); });
      if (!(data.slots || []).length) { slotsBox.appendChild(el("p", { "class": "r-muted", text: t("slot.none") })); }
      Object.keys(days).sort().forEach(function (d) {
        var g = days[d];
        var group = el("div", { "class": "r-day", "data-date": d }, [el("h3", { text: dayLabel(d) })]);
        if (g.ok.length) {
          var list = el("div", { "class": "r-slot-list" });
          g.ok.sort(function (a, b) { return a.rank - b.rank; }).forEach(function (s) {
            var btn = el("button", { type: "button", "class": "r-slot", "aria-pressed": "false",
              "data-date": s.date, "data-start": s.start, "data-end": s.end, "data-rank": s.rank },
              [el("span", { "class": "r-slot-time", text: s.start + "–" + s.end }),
                s.rank === 1 ? el("span", { "class": "r-best", text: t("slot.best") }) : null]);
            btn.addEventListener("click", function () { setSlot({ date: s.date, start: s.start, end: s.end }); });
            list.appendChild(btn);
          });
          group.appendChild(list);
        } else {
          group.appendChild(el("p", { "class": "r-muted", text: t("slot.day_full") }));
        }
        if (g.no.length) {
          group.appendChild(el("p", { "class": "r-refused", text: t("slot.unavailable") + " " + g.no.map(function (r) {
            return r.start + "–" + r.end + " " + reasonLabel(r.reason);
          }).join(cfg.lang === "zh" ? "；" : "; ") }));
        }
        slotsBox.appendChild(group);
      });
      if (state.days < cfg.horizon_days) {
        var more = el("button", { type: "button", "class": "r-btn r-more", text: t("slot.more") });
        more.addEventListener("click", function () {
          state.days = state.days < 7 ? 7 : cfg.horizon_days;
          scheduleSlots(true);
        });
        slotsBox.appendChild(more);
      }
      var keep = state.slot && $$(".r-slot", slotsBox).some(function (b) {
        return b.getAttribute("data-date") === state.slot.date && b.getAttribute("data-start") === state.slot.start;
      });
      setSlot(keep ? state.slot : null);
    }
    function setSlot(slot) {
      state.slot = slot;
      $$(".r-slot", slotsBox).forEach(function (b) {
        var on = !!slot && b.getAttribute("data-date") === slot.date && b.getAttribute("data-start") === slot.start;
        b.setAttribute("aria-pressed", String(on));
      });
      $("#chosen").textContent = slot ? t("slot.chosen", { date: dayLabel(slot.date), start: slot.start, end: slot.end })
        : t("slot.not_chosen");
      $("#chosen").classList.toggle("on", !!slot);
      if (slot) { clearErrors(["slot"]); }
    }

    form.addEventListener("input", function (e) {
      var holder = e.target.closest("[data-field]");
      if (holder && holder.classList.contains("r-invalid") && !holder.classList.contains("r-mat")) {
        clearErrors([holder.getAttribute("data-field")]);
      }
    });

    function busy(on) {
      state.submitting = on;
      submit.disabled = on;
      clear(submit);
      if (on) { submit.appendChild(spinner()); }
      submit.appendChild(document.createTextNode(t(on ? "submitting" : "submit")));
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (state.submitting) { return; }
      clearErrors();
      formError.textContent = "";
      var name = nameIn.value.trim();
      var phone = phoneIn.value.trim();
      var address = addressIn.value.trim();
      var items = selectedMaterials();
      var errs = {};
      if (!name) { errs["resident.name"] = [t("err.required")]; }
      if (!phone) { errs["resident.phone"] = [t("err.required")]; }
      else if (!/^\+?[\d\s-]+$/.test(phone) || phone.replace(/\D/g, "").length < 5) { errs["resident.phone"] = [t("err.phone")]; }
      if (!address) { errs.address = [t("err.required")]; }
      if (!state.point) { errs["lat/lon"] = [t("err.point")]; }
      var mp = materialProblems(items);
      Object.keys(mp).forEach(function (k) { errs[k] = mp[k]; });
      if (!state.slot) { errs.slot = [t("err.slot")]; }
      if (Object.keys(errs).length) {
        showErrors(errs, { localized: true, focus: true });
        formError.textContent = t("err.form");
        return;
      }
      var body = {
        resident: { name: name, phone: phone }, address: address,
        lat: state.point.lat, lon: state.point.lon, coordinates: "wgs84", materials: items,
        date: state.slot.date, window: { start: state.slot.start, end: state.slot.end },
      };
      var fp = JSON.stringify(body);
      if (fp !== state.keyFp) { state.key = newKey(); state.keyFp = fp; }  // a retry reuses it
      body.idempotency_key = state.key;
      busy(true);
      api("POST", cfg.api.bookings, body).then(function (res) {
        if (res.status === 201 || res.status === 200) {
          remember(res.data, phone, name);
          window.location.assign(cfg.urls.confirmed.replace("__REF__", encodeURIComponent(res.data.reference)));
          return;
        }
        busy(false);
        if (res.status === 422) {
          var errs2 = apiErrors(res.data);
          var out = showErrors(errs2, { sent: items, focus: true });
          formError.textContent = out.shown ? t("err.form") : (res.data.message || t("err.server"));
          if (out.general.length) { formError.textContent += " " + out.general.join(" "); }
          if (errs2.date || errs2.window) { state.slotFp = null; scheduleSlots(true); }
        } else {
          formError.textContent = t("err.server");
        }
      }).catch(function () {
        busy(false);
        formError.textContent = t("err.network");
      });
    });

    // for people and tests alike: the map and the form state
    window.LoopvanResident = { map: map, state: state, setPoint: function (lat, lon) { setPoint(L.latLng(lat, lon), "api"); } };
  }

  // --- booking facts (confirmation and status) ------------------------------------------

  function renderFacts(dl, doc) {
    clear(dl);
    [["status.when", windowLabel(doc)], ["status.address", doc.address],
      ["status.materials", materialsLabel(doc.materials)]].forEach(function (row) {
      dl.appendChild(el("dt", { text: t(row[0]) }));
      dl.appendChild(el("dd", { text: row[1] }));
    });
  }

  function confirmedPage() {
    var box = $("#confirmation");
    var ref = box.getAttribute("data-reference");
    var copy = $("#copy-ref");
    copy.addEventListener("click", function () {
      function done() { copy.textContent = t("done.copied"); }
      function select() {
        var range = document.createRange();
        range.selectNodeContents($("#reference"));
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
      if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(ref).then(done, select); }
      else { select(); }
    });
    var phone = phoneFor(ref);
    if (!phone) { return; }
    api("GET", bookingUrl(ref), undefined, { "X-Resident-Phone": phone }).then(function (res) {
      if (!res.ok) { return; }
      renderFacts($("#facts"), res.data);
      $("#booking-details").hidden = false;
    }).catch(function () { /* the reference is what matters */ });
  }

  // --- the status page ----------------------------------------------------------------

  function statusPage() {
    var form = $("#lookup-form");
    var refIn = $("#s-ref");
    var phoneIn = $("#s-phone");
    var lookupError = $("#lookup-error");
    var section = $("#booking");
    var cancelBtn = $("#cancel");
    var dialog = $("#cancel-dialog");
    var current = null;  // {reference, phone}

    if (refIn.value) { phoneIn.value = phoneFor(refIn.value.trim()); }
    else { phoneIn.value = load().phone || ""; }

    function renderRecent() {
      var list = $("#recent-list");
      var items = load().bookings || [];
      clear(list);
      items.forEach(function (b) {
        var btn = el("button", { type: "button", "class": "r-link" }, [
          el("span", { "class": "r-mono", text: b.reference }),
          b.date ? el("span", { "class": "r-muted", text: " " + dayLabel(b.date) + (b.start ? " " + b.start + "–" + b.end : "") }) : null,
        ]);
        btn.addEventListener("click", function () {
          refIn.value = b.reference;
          phoneIn.value = b.phone || phoneIn.value;
          lookup();
        });
        list.appendChild(el("li", {}, [btn]));
      });
      $("#recent").hidden = items.length === 0;
    }

    function render(doc, notice) {
      var badge = $("#b-status");
      badge.textContent = statusLabel(doc.status);
      badge.className = "r-badge st-" + doc.status;
      section.setAttribute("data-status", doc.status);
      $("#b-ref").textContent = doc.reference;
      renderFacts($("#b-facts"), doc);
      var hist = $("#b-history");
      clear(hist);
      (doc.history || []).forEach(function (h) {
        var who = h.actor === "resident" ? t("actor.resident") : h.actor === "system" ? t("actor.system") : t("actor.staff");
        var note = h.note === "validated" ? t("note.validated") : h.note;
        hist.appendChild(el("li", { "class": "st-" + h.to }, [
          el("span", { "class": "r-when", text: stampLabel(h.at) }),
          el("strong", { text: statusLabel(h.to) }),
          el("span", { "class": "r-muted", text: " · " + who + (note ? " · " + note : "") }),
        ]));
      });
      cancelBtn.hidden = cfg.cancellable.indexOf(doc.status) < 0;
      var n = $("#b-notice");
      n.hidden = !notice;
      n.textContent = notice || "";
      section.hidden = false;
    }

    function lookup() {
      clearErrors();
      lookupError.textContent = "";
      var ref = refIn.value.trim().toUpperCase();
      var phone = phoneIn.value.trim();
      refIn.value = ref;
      var errs = {};
      if (!ref) { errs.reference = [t("err.required")]; }
      if (!phone) { errs.phone = [t("err.required")]; }
      if (Object.keys(errs).length) { showErrors(errs, { localized: true, focus: true }); return; }
      var btn = $("#lookup");
      btn.disabled = true;
      clear(btn);
      btn.appendChild(spinner());
      btn.appendChild(document.createTextNode(t("status.loading")));
      function done() { btn.disabled = false; btn.textContent = t("status.lookup"); }
      api("GET", bookingUrl(ref), undefined, { "X-Resident-Phone": phone }).then(function (res) {
        done();
        if (res.ok) {
          current = { reference: ref, phone: phone };
          remember(res.data, phone);
          renderRecent();
          render(res.data);
          section.scrollIntoView({ block: "start", behavior: "smooth" });
          if (window.history.replaceState) {
            var u = new URL(window.location.href);
            u.searchParams.set("ref", ref);
            window.history.replaceState(null, "", u.toString());
          }
        } else {
          section.hidden = true;
          lookupError.textContent = res.status === 404 || res.status === 401 ? t("status.not_found") : t("err.server");
        }
      }).catch(function () { done(); lookupError.textContent = t("err.network"); });
    }

    function cancel(reason) {
      cancelBtn.disabled = true;
      api("POST", bookingUrl(current.reference) + "/cancel", { reason: reason },
        { "X-Resident-Phone": current.phone }).then(function (res) {
        cancelBtn.disabled = false;
        if (res.ok) {
          remember(res.data, current.phone);
          renderRecent();
          render(res.data, t("status.cancelled_ok"));
        } else if (res.status === 409) {
          lookup();
          lookupError.textContent = t("status.cannot_cancel");
        } else if (res.status === 404 || res.status === 401) {
          lookupError.textContent = t("status.not_found");
        } else {
          lookupError.textContent = t("err.server");
        }
      }).catch(function () { cancelBtn.disabled = false; lookupError.textContent = t("err.network"); });
    }

    form.addEventListener("submit", function (e) { e.preventDefault(); lookup(); });
    cancelBtn.addEventListener("click", function () {
      if (!current) { return; }
      if (dialog && typeof dialog.showModal === "function") {
        $("#cancel-ref").textContent = current.reference;
        $("#cancel-reason").value = "";
        dialog.returnValue = "";
        dialog.showModal();
      } else if (window.confirm(t("status.cancel_title"))) {
        cancel("");
      }
    });
    if (dialog) {
      dialog.addEventListener("close", function () {
        if (dialog.returnValue === "yes") { cancel($("#cancel-reason").value.trim()); }
      });
    }

    renderRecent();
    if (refIn.value && phoneIn.value) { lookup(); }
    else if (refIn.value) { phoneIn.focus(); }
  }

  if (page === "book") { bookPage(); }
  else if (page === "confirmed") { confirmedPage(); }
  else if (page === "status") { statusPage(); }
})();
