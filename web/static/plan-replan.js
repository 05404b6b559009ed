// The dispatcher's re-plan panel on a live plan: an optional road closure (street names
// suggested from our own road graph), an optional broken-down van and a reason; the rest of
// the day is solved again into a new draft, which the page then opens for approval.
(function () {
  "use strict";

  var form = document.getElementById("replan-form");
  if (!form) { return; }
  var post = window.loopvanApi.post;
  var planId = form.dataset.plan;
  var recorded = {};  // "road|start|end" -> the closure stored, so a retry does not store it twice
  function $(id) { return document.getElementById(id); }

  function msg(cls, text) { var m = $("rp-msg"); m.className = "msg " + cls; m.textContent = text; }
  function fieldError(name, text) {
    var e = form.querySelector('[data-error-for="' + name + '"]');
    if (e) { e.textContent = text || ""; }
  }
  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (e) { e.textContent = ""; });
  }
  /** The API's field errors as "field: message" lines. */
  function errorsOf(body) {
    var errs = window.loopvanApi.fieldErrors(body);
    var out = Object.keys(errs).map(function (k) { return k + ": " + errs[k]; });
    return out.length ? out.join(" · ") : (body.message || "");
  }

  // street names for the closure, from the road graph
  var road = $("rp-road");
  var roads = $("rp-roads");
  var timer = null;
  var seq = 0;
  road.addEventListener("input", function () {
    clearTimeout(timer);
    var q = road.value.trim();
    if (!q) { return; }
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch("/api/v1/streets?limit=8&q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) {
          if (mine !== seq) { return; }
          while (roads.firstChild) { roads.removeChild(roads.firstChild); }
          list.forEach(function (s) {
            var o = document.createElement("option");
            o.value = s.name;
            o.label = (s.name_en || "") + (s.district ? " · " + s.district.name_en : " · outside");
            roads.appendChild(o);
          });
        }).catch(function () { /* suggestions only */ });
    }, 250);
  });

  form.addEventListener("input", function (ev) {  // an error goes once its field is touched
    var name = ev.target.name;
    fieldError(["road", "start", "end"].indexOf(name) >= 0 ? "closure" : name, "");
    if ($("rp-msg").classList.contains("error")) { msg("", ""); }
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearErrors();
    var reason = $("rp-reason").value.trim();
    var broken = $("rp-broken").value || null;
    var name = road.value.trim();
    var start = $("rp-start").value;
    var end = $("rp-end").value;
    var at = $("rp-at").value;  // a time on the plan's day, Shenzhen time (UTC+8 all year)
    var bad = false;
    if (!reason) { fieldError("reason", "say why the plan is re-planned"); bad = true; }
    if (name && (!start || !end)) { fieldError("closure", "give the hours the road is closed"); bad = true; }
    if (!name && (start || end)) { fieldError("closure", "name the closed road"); bad = true; }
    if (name && start && end && end <= start) { fieldError("closure", "the closure must end after it starts"); bad = true; }
    if (bad) { msg("error", "Fix the fields marked above."); return; }
    var go = $("rp-go");
    go.disabled = true;
    var closureKey = name + "|" + start + "|" + end;
    var step = Promise.resolve(recorded[closureKey] || null);
    if (name && !recorded[closureKey]) {
      msg("pending", "Recording the closure of " + name + "…");
      step = post("/api/v1/closures", {
        district: form.dataset.district, date: form.dataset.date,
        title: (name + " closed: " + reason).slice(0, 200),
        start: start, end: end, road_names: [name],
      }).then(function (res) {
        if (!res.ok) {
          fieldError("closure", errorsOf(res.body));
          throw new Error("the closure was refused");
        }
        recorded[closureKey] = res.body;
        return res.body;
      });
    }
    step.then(function (closure) {
      var ruleId = closure && closure.rule ? closure.rule.id : null;
      msg("pending", (ruleId ? "Closure " + ruleId + " recorded. " : "") +
        "Re-solving the rest of the day…");
      form.classList.add("busy");
      var body = { reason: reason, broken: broken };
      if (at) { body.at = form.dataset.date + "T" + at + ":00+08:00"; }
      return post("/api/v1/plans/" + planId + "/replan", body);
    }).then(function (res) {
      form.classList.remove("busy");
      if (!res.ok) {
        var text = errorsOf(res.body);
        if (res.body.errors && res.body.errors.json && res.body.errors.json.broken) { fieldError("broken", text); }
        throw new Error(text || ("HTTP " + res.status));
      }
      var d = res.body.diff || {};
      var changed = (d.vehicles || []).filter(function (v) { return v.changed; }).length;
      msg("ok", "New draft #" + res.body.plan_id + " (version " + res.body.version + "): " + changed +
        " van(s) changed, " + res.body.pinned_stops + " done stop(s) kept. Opening it…");
      form.dataset.newPlan = res.body.plan_id;
      setTimeout(function () { window.location.href = "/plans/" + res.body.plan_id; }, 900);
    }).catch(function (e) {
      form.classList.remove("busy");
      go.disabled = false;
      msg("error", String(e.message || e));
    });
  });
})();
