// The dispatcher's booking queue: an urgent booking for today. The address suggests
// streets from our own road graph; picking one places the booking there. The booking is
// sent once (an idempotency key per filled form), then the queue reloads.
(function () {
  "use strict";

  var form = document.getElementById("urgent-form");
  if (!form) { return; }
  var live = JSON.parse(form.dataset.live || "{}");
  var point = null;
  var key = null;
  function $(id) { return document.getElementById(id); }
  function msg(cls, text) { var m = $("u-msg"); m.className = "msg " + cls; m.textContent = text; }
  function fieldError(name, text) {
    var e = form.querySelector('[data-error-for="' + name + '"]');
    if (e) { e.textContent = text || ""; }
  }
  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (e) { e.textContent = ""; });
  }
  function newKey() {
    return "urgent-" + (window.crypto && crypto.randomUUID ? crypto.randomUUID() :
      String(Date.now()) + Math.random().toString(16).slice(2));
  }

  // streets named in the address
  var box = $("u-streets");
  var timer = null;
  var seq = 0;
  function showStreets(list) {
    while (box.firstChild) { box.removeChild(box.firstChild); }
    list.forEach(function (s) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "street" + (s.district ? "" : " outside");
      b.dataset.street = s.name;
      b.textContent = s.name + (s.name_en ? " · " + s.name_en : "") +
        (s.district ? " · " + s.district.name_en : " · outside our districts");
      b.addEventListener("click", function () {
        point = { lat: s.lat, lon: s.lon };
        Array.prototype.forEach.call(box.querySelectorAll(".street"), function (x) {
          x.setAttribute("aria-pressed", String(x === b));
        });
        fieldError("lat/lon", "");
        $("u-street-note").textContent = s.length_m > 1500 ?
          s.name + " is " + (s.length_m / 1000).toFixed(1) + " km long: the booking is placed at its middle; " +
          "confirm the nearest junction with the resident and tell the driver." : "";
      });
      box.appendChild(b);
    });
  }
  $("u-address").addEventListener("input", function () {
    clearTimeout(timer);
    point = null;
    $("u-street-note").textContent = "";
    var q = this.value.trim();
    if (q.length < 2) { showStreets([]); return; }
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch("/api/v1/streets?limit=4&q=" + encodeURIComponent(q.slice(0, 120)), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) { if (mine === seq) { showStreets(list); } })
        .catch(function () { /* suggestions only */ });
    }, 300);
  });
  form.addEventListener("input", function (ev) {
    key = null;  // a changed form is a new booking
    var slot = { start: "window", end: "window", material: "materials", kg: "materials",
      name: "resident", phone: "resident" }[ev.target.name] || ev.target.name;
    fieldError(slot, "");
    if ($("u-msg").classList.contains("error")) { msg("", ""); }
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearErrors();
    var body = {
      resident: { name: $("u-name").value.trim(), phone: $("u-phone").value.trim() },
      address: $("u-address").value.trim(),
      lat: point ? point.lat : null, lon: point ? point.lon : null,
      materials: [{ material: $("u-material").value, kg: parseFloat($("u-kg").value) }],
      date: form.dataset.today,
      window: { start: $("u-start").value, end: $("u-end").value },
      priority: parseInt($("u-priority").value, 10),
    };
    if (!point) {
      fieldError("lat/lon", "pick the street from the suggestions under the address");
      msg("error", "Fix the fields marked above.");
      return;
    }
    key = key || newKey();
    body.idempotency_key = key;
    $("u-go").disabled = true;
    msg("pending", "Booking…");
    window.loopvanApi.post("/api/v1/bookings", body).then(function (res) {
      $("u-go").disabled = false;
      if (!res.ok) {
        var errs = window.loopvanApi.fieldErrors(res.body);
        Object.keys(errs).forEach(function (k) {
          var text = errs[k];
          var slot = form.querySelector('[data-error-for="' + k + '"]') ||
            form.querySelector('[data-error-for="' + k.split(/[.\[]/)[0] + '"]');
          if (slot) { slot.textContent = (slot.textContent ? slot.textContent + " · " : "") + k + ": " + text; }
        });
        msg("error", res.body.message || ("HTTP " + res.status));
        return;
      }
      var b = res.body;
      var planId = live[b.district];
      msg("ok", "Booked " + b.reference + " for today " + b.window.start + "–" + b.window.end + ", priority " +
        b.priority + "." + (planId ? " Re-plan today's live plan #" + planId + " to put it on a van." :
        " No live plan today in this district: it is planned with the next build."));
      var done = $("u-done") || form.appendChild(document.createElement("p"));
      done.id = "u-done";
      done.dataset.reference = b.reference;
      done.innerHTML = "";
      if (planId) {
        var a = document.createElement("a");
        a.href = "/plans/" + planId + "#replan";
        a.textContent = "Open plan #" + planId + " to re-plan";
        done.appendChild(a);
      }
      var q = document.createElement("a");
      q.href = "?date=" + form.dataset.today;
      q.textContent = (planId ? " · " : "") + "today's queue";
      done.appendChild(q);
      key = null;
    }).catch(function (e) { $("u-go").disabled = false; msg("error", String(e)); });
  });
})();
