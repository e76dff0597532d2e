// The phone report form: the position from the phone, and open cases of the
// same category nearby, offered before a second report is filed.
(function () {
  var form = document.getElementById("report");
  if (!form) return;
  var lon = document.getElementById("lon"), lat = document.getElementById("lat");
  var where = document.getElementById("where"), box = document.getElementById("duplicates");
  var category = document.getElementById("category");
  function check() {
    if (!lon.value || !lat.value || !category.value) return;
    var url = "/api/v1/cases/duplicates?category=" + encodeURIComponent(category.value) + "&lon=" + lon.value + "&lat=" + lat.value;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; }).then(function (found) {
      if (!found.length) { box.hidden = true; return; }
      box.hidden = false;
      box.textContent = "附近已有同类问题正在办理：";
      found.forEach(function (c) {
        var a = document.createElement("a");
        a.href = "/cases/" + c.id;
        a.textContent = " " + c.number + "（" + c.distance_m + " 米）";
        box.appendChild(a);
      });
    });
  }
  category.addEventListener("change", check);
  if (lon.value && lat.value) { where.textContent = "位置已记录"; check(); return; }
  if (!navigator.geolocation) { where.textContent = "无法获取定位，请填写地点"; return; }
  navigator.geolocation.getCurrentPosition(function (p) {
    lon.value = p.coords.longitude.toFixed(6);
    lat.value = p.coords.latitude.toFixed(6);
    where.textContent = "已定位（精度约 " + Math.round(p.coords.accuracy) + " 米）";
    check();
  }, function () { where.textContent = "未能定位，请填写地点"; }, { enableHighAccuracy: true, timeout: 8000 });
})();
