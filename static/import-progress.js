// Polls an import's progress every two seconds and updates the bar; stops once it is over.
(function () {
  var box = document.getElementById("import-progress");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var state = document.getElementById("import-state");
  function show(p) {
    bar.value = p.percent;
    ["done", "failed", "skipped", "pending", "tokens_spent"].forEach(function (name) {
      var el = box.querySelector('[data-field="' + name + '"]');
      if (el) { el.textContent = p[name]; }
    });
    var eta = box.querySelector('[data-field="eta"]');
    if (eta) { eta.textContent = p.eta ? new Date(p.eta).toLocaleString() : "—"; }
    if (state) { state.textContent = p.state; state.className = "pill " + p.state; }
    return p.state === "running";
  }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (p && show(p)) { setTimeout(poll, 2000); } })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
})();
