// Live Σdebit / Σcredit under a voucher's lines, in fen so the sums are exact.
(function () {
  "use strict";
  function fen(text) {
    var s = String(text || "").replace(/[,\s¥]/g, "");
    if (!/^\d+(\.\d{0,2})?$/.test(s)) return s === "" ? 0 : NaN;
    var parts = s.split(".");
    return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
  }
  function show(f) {
    var neg = f < 0, v = Math.abs(f);
    var yuan = String(Math.floor(v / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + yuan + "." + String(v % 100).padStart(2, "0");
  }
  function cellsOf(kind) {
    var inputs = document.querySelectorAll("input.ledger-" + kind);
    if (inputs.length) return Array.prototype.map.call(inputs, function (el) {
      var row = el.closest("tr");
      var del = row && row.querySelector("input[name$='-DELETE']");
      return del && del.checked ? "" : el.value;
    });
    // Read-only (posted) vouchers show the amounts as text.
    return Array.prototype.map.call(document.querySelectorAll("td.field-" + kind),
                                    function (el) { return el.textContent.trim(); });
  }
  function update() {
    var dr = 0, cr = 0, bad = false;
    cellsOf("debit").forEach(function (v) { var f = fen(v); if (isNaN(f)) bad = true; else dr += f; });
    cellsOf("credit").forEach(function (v) { var f = fen(v); if (isNaN(f)) bad = true; else cr += f; });
    document.getElementById("ledger-sum-debit").textContent = show(dr);
    document.getElementById("ledger-sum-credit").textContent = show(cr);
    document.getElementById("ledger-diff").textContent = show(dr - cr);
    var state = document.getElementById("ledger-state");
    var words = document.getElementById("ledger-totals").dataset;  // translated by the template
    if (bad) { state.textContent = words.bad; state.className = "ledger-off"; }
    else if (dr === cr && dr > 0) { state.textContent = words.balanced; state.className = "ledger-ok"; }
    else { state.textContent = words.unbalanced; state.className = "ledger-off"; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("ledger-totals")) return;
    document.addEventListener("input", function (e) {
      if (e.target.matches("input.ledger-debit, input.ledger-credit, input[name$='-DELETE']")) update();
    });
    document.addEventListener("change", update);
    document.addEventListener("formset:added", update);
    update();
  });
})();
