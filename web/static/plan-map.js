// Dispatcher map: offline base layer drawn from our own road graph (an optional tile layer
// from LOOPVAN_TILE_URL goes under it), restricted zones and roads with their hours, routes
// coloured per van, numbered stops with popups. No CDN: the machine may be offline.
// Other scripts use window.loopvanMap: focusStop, markStop, showPreview, clearPreview.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || typeof L === "undefined") { return; }
  var planId = el.dataset.plan;
  var editable = el.dataset.editable === "1";
  var map = L.map("map", { preferCanvas: true });
  var layers = {};       // plate -> layer group of the route as planned
  var markers = {};      // "plate|seq" -> marker
  var byRef = {};        // stop reference (BK-/CP-) -> marker
  var props = {};        // "plate|seq" -> feature properties
  var progress = {};     // "plate|seq" -> live state (arrived / done / skipped)
  var preview = L.layerGroup().addTo(map);
  var hidden = {};       // plates whose planned route is hidden behind a preview

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  if (el.dataset.tileUrl) {  // under the vector layers: tiles live in Leaflet's tile pane
    L.tileLayer(el.dataset.tileUrl, {
      maxZoom: 19, attribution: el.dataset.tileAttribution || "",
    }).addTo(map);
    el.classList.add("with-tiles");
  }

  fetchJSON("/api/v1/network.geojson").then(function (net) {
    var faint = !!el.dataset.tileUrl;
    L.geoJSON(net, {
      style: function (f) {
        var s = f.properties.major ? { color: "#b9b4a6", weight: 2.2 } : { color: "#d3cfc3", weight: 1 };
        if (faint) { s.opacity = 0.45; }
        return s;
      },
      interactive: false,
    }).addTo(map).bringToBack();
  }).catch(function (e) { console.warn(e); });

  var effectStyle = {
    no_entry: { color: "#c0392b", weight: 2, fillOpacity: 0.08, dashArray: "4 3" },
    max_weight: { color: "#8e44ad", weight: 2, fillOpacity: 0.08 },
    no_stopping: { color: "#7f8c8d", weight: 1, opacity: 0.5 },
    stationing_allowed: { color: "#27ae60", weight: 1, fillOpacity: 0.03 },
  };
  var zonesLayer = L.layerGroup();
  var roadsLayer = L.layerGroup();
  fetchJSON("/api/v1/plans/" + planId + "/rules.geojson").then(function (gj) {
    var zones = gj.features.filter(function (f) { return f.geometry.type.indexOf("Polygon") >= 0; });
    var roads = gj.features.filter(function (f) { return f.geometry.type.indexOf("Polygon") < 0; });
    [[zones, zonesLayer], [roads, roadsLayer]].forEach(function (pair) { L.geoJSON(pair[0], {
      style: function (f) { return effectStyle[f.properties.effect] || { color: "#c0392b" }; },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        var when = p.when ? "in force " + p.when : p.except_when ? "except " + p.except_when : "always";
        layer.bindPopup("<b>" + esc(p.rule) + "</b> " + esc(p.effect) + "<br>" + esc(p.title) + "<br>" +
          esc(when) + (p.days && p.days !== "all" ? " (" + esc(p.days) + ")" : ""));
      },
    }).addTo(pair[1]); });
    zonesLayer.addTo(map);  // restricted roads are many: off until asked for
    el.dataset.rules = gj.features.length;
  }).catch(function (e) { console.warn(e); });
  L.control.layers(null, { "Restricted zones": zonesLayer, "Restricted roads": roadsLayer },
    { collapsed: false }).addTo(map);

  var LIVE_LABEL = { arrived: "arrived", done: "done", skipped: "skipped" };

  function stopIcon(p, extra) {
    var label = p.kind === "depot" ? "D" : p.kind === "unload" ? "U" : p.kind === "break" ? "B" : String(p.seq);
    var cls = "stop-icon " + p.kind + (extra ? " " + extra : "");
    return L.divIcon({ className: "", html: '<div class="' + cls + '" style="background:' + p.colour +
      '" data-ref="' + esc(p.id) + '">' + esc(label) + "</div>", iconSize: [18, 18], iconAnchor: [9, 9] });
  }

  function popupHtml(p) {
    var key = p.vehicle + "|" + p.seq;
    var html = "<b>" + esc(p.vehicle) + " #" + p.seq + "</b> " + esc(p.kind) +
      (p.id && p.kind !== "break" ? " · " + esc(p.id) : "") + "<br>" + esc(p.name) + "<br>" +
      "arrive " + p.arrival + ", serve " + p.start + "–" + p.departure + "<br>load after: " + p.load_kg + " kg" +
      (p.materials.length ? "<br>" + esc(p.materials.join(", ")) : "");
    if (progress[key]) { html += '<br><span class="live-' + progress[key] + '">● ' + LIVE_LABEL[progress[key]] + "</span>"; }
    if (editable && (p.kind === "pickup" || p.kind === "station")) {
      html += '<br><button type="button" class="popup-select" data-ref="' + esc(p.id) + '">Move this stop…</button>';
    }
    return html;
  }

  fetchJSON("/api/v1/plans/" + planId + "/geojson").then(function (gj) {
    var bounds = L.latLngBounds([]);
    gj.features.forEach(function (f) {
      var p = f.properties;
      var group = layers[p.vehicle] || (layers[p.vehicle] = L.layerGroup().addTo(map));
      if (f.geometry.type === "LineString") {
        var line = L.polyline(f.geometry.coordinates.map(function (c) { return [c[1], c[0]]; }),
          { color: p.colour, weight: 3.5, opacity: 0.85 });
        line.bindTooltip(p.vehicle);
        group.addLayer(line);
        bounds.extend(line.getBounds());
      } else {
        var key = p.vehicle + "|" + p.seq;
        var m = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]],
          { icon: stopIcon(p, progress[key] ? "live-" + progress[key] : "") });
        m.bindPopup(function () { return popupHtml(p); });
        markers[key] = m;
        props[key] = p;
        if (p.kind === "pickup" || p.kind === "station") { byRef[p.id] = m; }
        group.addLayer(m);
      }
    });
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20] }); }
    else { map.setView([22.54, 114.05], 13); }
    el.dataset.routes = Object.keys(layers).length;
    el.classList.add("loaded");
  }).catch(function (e) {
    console.warn(e);
    map.setView([22.54, 114.05], 13);
    el.dataset.error = String(e);
  });

  // A popup's "Move this stop" selects it in the editor (plan-edit.js).
  el.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest(".popup-select") : null;
    if (!b) { return; }
    document.dispatchEvent(new CustomEvent("loopvan:select", { detail: { ref: b.dataset.ref, from: "map" } }));
    map.closePopup();
  });

  function showOnly(plate) {
    Object.keys(layers).forEach(function (k) {
      if (hidden[k]) { map.removeLayer(layers[k]); return; }
      if (!plate || k === plate) { map.addLayer(layers[k]); } else { map.removeLayer(layers[k]); }
    });
  }

  document.querySelectorAll("tr.route-row").forEach(function (row) {
    row.addEventListener("click", function () {
      var v = row.dataset.vehicle;
      var selected = !row.classList.contains("selected");
      document.querySelectorAll("tr.route-row").forEach(function (r) { r.classList.remove("selected"); });
      showOnly(selected ? v : null);
      if (selected) { row.classList.add("selected"); }
    });
  });

  window.loopvanMap = {
    map: map,
    // Open the popup of a stop (a BK-/CP- reference) and centre on it.
    focusStop: function (ref) {
      var m = byRef[ref];
      if (!m) { return false; }
      Object.keys(layers).forEach(function (k) {
        if (layers[k].hasLayer(m) && !map.hasLayer(layers[k])) { map.addLayer(layers[k]); }
      });
      map.panTo(m.getLatLng());
      m.openPopup();
      return true;
    },
    // Live progress of a stop: "arrived", "done" or "skipped".
    markStop: function (plate, seq, st) {
      var key = plate + "|" + seq;
      progress[key] = st;
      var m = markers[key];
      if (m) { m.setIcon(stopIcon(props[key], "live-" + st)); }
    },
    // Draw edited routes (plan JSON routes of the vans that changed) over the planned ones:
    // straight dashed lines between the re-timed stops; the planned route of each is hidden.
    showPreview: function (routes, colours) {
      preview.clearLayers();
      hidden = {};
      (routes || []).forEach(function (r) {
        hidden[r.vehicle] = true;
        if (!r.stops.length) { return; }
        var colour = colours[r.vehicle] || "#333";
        var pts = r.stops.map(function (s) { return [s.lat, s.lon]; });
        preview.addLayer(L.polyline(pts, { color: colour, weight: 3, dashArray: "6 5", opacity: 0.95 })
          .bindTooltip(r.vehicle + " (edited)"));
        r.stops.forEach(function (s) {
          if (s.kind === "depot") { return; }
          var p = { kind: s.kind, seq: s.seq, colour: colour, id: s.id };
          preview.addLayer(L.marker([s.lat, s.lon], { icon: stopIcon(p, "preview"), interactive: false }));
        });
      });
      showOnly(null);
      preview.eachLayer(function (l) { if (l instanceof L.Path) { l.bringToFront(); } });
    },
    clearPreview: function () { preview.clearLayers(); hidden = {}; showOnly(null); },
  };
})();
