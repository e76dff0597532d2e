// The phone report form: the position from the phone (or a tap on the map),
// a search over the categories, and open cases of the same category nearby,
// offered before a second report is filed.
(function () {
  var form = document.getElementById("report");
  if (!form) return;
  var lon = document.getElementById("lon"), lat = document.getElementById("lat"), crs = document.getElementById("crs");
  var where = document.getElementById("where"), box = document.getElementById("duplicates");
  var category = document.getElementById("category"), search = document.getElementById("category-search");
  function check() {
    if (!lon.value || !lat.value || !category.value) return;
    var url = "/api/v1/cases/duplicates?category=" + encodeURIComponent(category.value) + "&lon=" + lon.value +
      "&lat=" + lat.value + "&crs=" + encodeURIComponent(crs.value || "wgs84");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; }).then(function (found) {
      box.textContent = "";
      if (!found.length) { box.hidden = true; return; }
      box.hidden = false;
      box.appendChild(document.createTextNode("附近已有同类问题正在办理，请先看看是否同一问题："));
      found.forEach(function (c) {
        var a = document.createElement("a");
        a.href = "/cases/" + c.id;
        a.textContent = " " + c.number + "（" + c.distance_m + " 米）";
        box.appendChild(a);
      });
    });
  }
  // A category with several filing conditions (井盖缺失 vs 破损) asks which:
  // the condition decides the time limit.
  var condition = document.getElementById("condition"), conditionBox = document.getElementById("condition-box");
  function conditions() {
    var option = category.options[category.selectedIndex];
    var list = option && option.dataset.conditions ? JSON.parse(option.dataset.conditions) : [];
    var chosen = condition.value || condition.dataset.chosen || "0";
    condition.textContent = "";
    list.forEach(function (label, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.textContent = label;
      condition.appendChild(o);
    });
    condition.value = chosen < list.length ? chosen : "0";
    condition.dataset.chosen = "";
    conditionBox.hidden = list.length < 2;
    condition.disabled = list.length < 2;
  }
  category.addEventListener("change", function () { condition.value = ""; conditions(); check(); });
  conditions();
  lon.addEventListener("change", check);
  if (search) {
    // Narrows the list as one types (by code or name); one match is chosen at once.
    search.addEventListener("input", function () {
      var words = search.value.trim();
      var matches = [];
      Array.prototype.forEach.call(category.querySelectorAll("option"), function (o) {
        if (!o.value) return;
        var hit = !words || o.textContent.indexOf(words) >= 0;
        o.hidden = !hit;
        if (hit) matches.push(o);
      });
      Array.prototype.forEach.call(category.querySelectorAll("optgroup"), function (g) {
        g.hidden = !Array.prototype.some.call(g.querySelectorAll("option"), function (o) { return !o.hidden; });
      });
      if (words && matches.length === 1) { category.value = matches[0].value; conditions(); check(); }
      document.getElementById("category-count").textContent = words ? "找到 " + matches.length + " 个分类" : "";
    });
  }
  if (lon.value && lat.value) { where.textContent = "位置已记录"; check(); return; }
  if (!navigator.geolocation) { where.textContent = "无法获取定位，请在地图上选点或填写地点"; return; }
  navigator.geolocation.getCurrentPosition(function (p) {
    if (crs.value && crs.value !== "wgs84" && lon.value) return; // already picked on the map
    lon.value = p.coords.longitude.toFixed(6);
    lat.value = p.coords.latitude.toFixed(6);
    crs.value = "wgs84";
    where.textContent = "已定位（精度约 " + Math.round(p.coords.accuracy) + " 米）";
    check();
  }, function () { where.textContent = "未能定位，请在地图上选点或填写地点"; }, { enableHighAccuracy: true, timeout: 8000 });
})();
