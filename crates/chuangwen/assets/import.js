// Polls an import's progress until it finishes, then reloads to show the report.
(function () {
  var box = document.getElementById("import");
  if (!box) return;
  var state = box.dataset.state;
  if (state !== "queued" && state !== "running") return;
  var bar = document.getElementById("bar");
  var status = document.getElementById("status");
  function poll() {
    var url = box.dataset.progress || "/places/imports/" + box.dataset.id + "/progress";
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        bar.style.width = p.percent + "%";
        status.textContent = p.status_text;
        if (p.state === "queued" || p.state === "running") {
          setTimeout(poll, 400);
        } else {
          location.reload();
        }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 300);
})();
