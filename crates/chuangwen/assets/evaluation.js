// The evaluator's checklist: the phone's position goes with the answers.
(function () {
  var form = document.getElementById("checklist");
  if (!form) return;
  var where = document.getElementById("where");
  if (!navigator.geolocation) { where.textContent = "无法获取定位：将使用点位位置"; return; }
  navigator.geolocation.getCurrentPosition(function (p) {
    document.getElementById("lon").value = p.coords.longitude.toFixed(6);
    document.getElementById("lat").value = p.coords.latitude.toFixed(6);
    where.textContent = "已定位（精度约 " + Math.round(p.coords.accuracy) + " 米）";
  }, function () {
    where.textContent = "未能定位：将使用点位位置";
  }, { enableHighAccuracy: true, timeout: 10000 });
})();
