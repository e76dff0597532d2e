// Batch dispatch: one box checks or clears every case.
(function () {
  var all = document.getElementById("check-all");
  if (!all) return;
  var boxes = document.querySelectorAll('#batch input[name="case"]');
  all.addEventListener("change", function () {
    Array.prototype.forEach.call(boxes, function (b) { b.checked = all.checked; });
  });
})();
