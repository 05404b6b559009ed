// What the dispatcher pages' scripts share: a JSON POST to the API with the session's
// CSRF token, and the API's field errors (one JSON error shape, web/errors.py).
window.loopvanApi = (function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  /** POST JSON; resolves {status, ok, body} (body: the JSON answer, or {message}). */
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : null; } catch (e) { j = null; }
        return { status: r.status, ok: r.ok, body: j || { message: t.slice(0, 300) || r.statusText } };
      });
    });
  }

  /** The answer's field errors as {field: "problem; problem"}. */
  function fieldErrors(body) {
    var errs = (body && body.errors && (body.errors.json || body.errors)) || {};
    var out = {};
    Object.keys(errs).forEach(function (k) {
      var v = errs[k];
      out[k] = Array.isArray(v) ? v.join("; ") : typeof v === "string" ? v : JSON.stringify(v);
    });
    return out;
  }

  return { post: post, fieldErrors: fieldErrors };
})();
