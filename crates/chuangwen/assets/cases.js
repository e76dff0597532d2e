// The case list shows its page at once and its total when counted: the total
// under several filters can take a moment at millions of cases. Without
// scripts the link opens the total on its own.
(function () {
  var link = document.querySelector("#total [data-total]");
  if (!link) return;
  var box = link.parentNode;
  box.textContent = "计数中…";
  fetch(link.dataset.total, { credentials: "same-origin" })
    .then(function (r) {
      return r.text().then(function (t) {
        if (!r.ok) throw new Error(t);
        return t;
      });
    })
    .then(function (t) { box.textContent = t; })
    .catch(function () {
      box.textContent = "";
      box.appendChild(link);
      link.textContent = "件数未能取得（点此查看）";
    });
})();
