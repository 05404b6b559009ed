// Dispatcher map: offline base layer drawn from our own road graph, routes coloured per van,
// numbered stops with popups. No tiles, no CDN: the machine may be offline.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var planId = el.dataset.plan;
  var map = L.map("map", { preferCanvas: true });
  var layers = {};

  function fetchJSON(url) { return fetch(url).then(function (r) { return r.json(); }); }

  fetchJSON("/api/v1/network.geojson").then(function (net) {
    L.geoJSON(net, {
      style: function (f) {
        return f.properties.major ? { color: "#b9b4a6", weight: 2.2 } : { color: "#d3cfc3", weight: 1 };
      },
      interactive: false,
    }).addTo(map).bringToBack();
  });

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
        layer.bindPopup("<b>" + p.rule + "</b> " + p.effect + "<br>" + p.title + "<br>" + when +
          (p.days && p.days !== "all" ? " (" + p.days + ")" : ""));
      },
    }).addTo(pair[1]); });
    zonesLayer.addTo(map);  // restricted roads are many: off until asked for
    el.dataset.rules = gj.features.length;
  });
  L.control.layers(null, { "Restricted zones": zonesLayer, "Restricted roads": roadsLayer },
    { collapsed: false }).addTo(map);

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
        var label = p.kind === "depot" ? "D" : p.kind === "unload" ? "U" : String(p.seq);
        var icon = L.divIcon({ className: "", html: '<div class="stop-icon ' + p.kind + '" style="background:' +
          p.colour + '">' + label + "</div>", iconSize: [18, 18], iconAnchor: [9, 9] });
        var m = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]], { icon: icon });
        m.bindPopup("<b>" + p.vehicle + " #" + p.seq + "</b> " + p.kind + "<br>" + p.name + "<br>" +
          "arrive " + p.arrival + ", serve " + p.start + "–" + p.departure + "<br>load after: " + p.load_kg + " kg" +
          (p.materials.length ? "<br>" + p.materials.join(", ") : ""));
        group.addLayer(m);
      }
    });
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20] }); }
    else { map.setView([22.54, 114.05], 13); }
    el.dataset.routes = Object.keys(layers).length;
    el.classList.add("loaded");
  });

  document.querySelectorAll("tr.route-row").forEach(function (row) {
    row.addEventListener("click", function () {
      var v = row.dataset.vehicle;
      var selected = !row.classList.contains("selected");
      document.querySelectorAll("tr.route-row").forEach(function (r) { r.classList.remove("selected"); });
      Object.keys(layers).forEach(function (k) {
        if (!selected || k === v) { map.addLayer(layers[k]); } else { map.removeLayer(layers[k]); }
      });
      if (selected) { row.classList.add("selected"); }
    });
  });
})();
