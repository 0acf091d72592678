// The bank reconciliation workspace: the forms post with fetch and the server's re-rendered body replaces the
// page's (the 余额调节表 included); without this script, or if fetch fails, they post and redirect as usual.
// The bar under the two lists shows the sums of what is ticked, in fen so they are exact.
(function () {
  "use strict";
  function show(f) {
    var neg = f < 0, v = Math.abs(f);
    var yuan = String(Math.floor(v / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + yuan + "." + String(v % 100).padStart(2, "0");
  }
  function total(body, name) {
    var sum = 0, n = 0;
    body.querySelectorAll("input[name=" + name + "][data-fen]:checked").forEach(function (el) {
      sum += parseInt(el.getAttribute("data-fen"), 10) || 0;
      n += 1;
    });
    return { sum: sum, n: n };
  }
  function sums() {
    var body = document.getElementById("ws-body");
    var shown = body && document.getElementById("ws-sel-lines");
    if (!shown) return;
    var l = total(body, "line"), p = total(body, "posting");
    shown.textContent = show(l.sum) + " (" + l.n + ")";
    document.getElementById("ws-sel-postings").textContent = show(p.sum) + " (" + p.n + ")";
    var state = document.getElementById("ws-sel-state");
    var ready = l.n > 0 && p.n > 0;
    state.textContent = ready ? (l.sum === p.sum ? "=" : "≠ " + show(l.sum - p.sum)) : "";
    state.className = ready ? (l.sum === p.sum ? "ws-ok" : "ws-off") : "";
  }
  document.addEventListener("change", function (e) {
    if (e.target.closest && e.target.closest("#ws-body")) sums();
  });
  document.addEventListener("submit", function (e) {
    var form = e.target, body = document.getElementById("ws-body");
    if (!body || !form.hasAttribute("data-ws") || !body.contains(form) || !window.fetch) return;
    e.preventDefault();
    if (body.getAttribute("aria-busy") === "true") return; // a double click posts once
    body.setAttribute("aria-busy", "true");
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "X-Workspace": "fragment" } })
      .then(function (r) {
        if (r.status !== 200 && r.status !== 409) throw new Error(String(r.status));
        return r.text();
      })
      .then(function (html) {
        body.innerHTML = html;
        body.removeAttribute("aria-busy");
        sums();
      })
      .catch(function () {
        body.removeAttribute("aria-busy");
        form.removeAttribute("data-ws");
        form.submit(); // the plain post: the server redirects back with its messages
      });
  });
  document.addEventListener("DOMContentLoaded", sums);
})();
