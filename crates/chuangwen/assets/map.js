// Maps with Leaflet: the district map (grids, points, open cases in
// clusters), the small map on a case page, and the pick-a-spot map of the
// report form. Tiles only when the district configured its own (data-tile-url);
// otherwise the grid cells alone give the picture, and nothing leaves the network.
(function () {
  if (!window.L) return;

  function baseMap(el, options) {
    var d = el.dataset;
    var map = L.map(el, Object.assign({ preferCanvas: true, zoomControl: true, attributionControl: !!d.tileUrl }, options || {}));
    var maxZoom = parseInt(d.maxZoom || "18", 10);
    if (d.tileUrl) {
      var tileOptions = { maxZoom: maxZoom, attribution: d.attribution || "" };
      if (d.subdomains) tileOptions.subdomains = d.subdomains;
      L.tileLayer(d.tileUrl, tileOptions).addTo(map);
      if (d.labelUrl) L.tileLayer(d.labelUrl, tileOptions).addTo(map);
    } else {
      el.classList.add("no-tiles");
    }
    map.setMaxZoom(maxZoom);
    return map;
  }

  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (cls) node.className = cls;
    return node;
  }

  var gridStyle = { color: "#5b7a99", weight: 1, fillColor: "#dbe6f0", fillOpacity: 0.25 };
  var alertColour = { red: "#c62828", amber: "#e08a00", "": "#1f5fa8" };

  function gridLayer(collection) {
    return L.geoJSON(collection, {
      style: gridStyle,
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(feature.properties.name + "（" + feature.properties.code + "）", { sticky: true });
      }
    });
  }

  function load(layers) {
    return fetch("/api/v1/map/layers?layers=" + layers, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("地图数据加载失败（" + r.status + "）");
      return r.json();
    });
  }

  // The district map: /map.
  var full = document.getElementById("district-map");
  if (full) {
    var map = baseMap(full);
    // The zoom in use, for people's tools and the browser tests.
    map.on("zoomend", function () { full.dataset.zoom = String(map.getZoom()); });
    var status = document.getElementById("map-status");
    load("grids,points,cases").then(function (data) {
      map.setView([data.center[1], data.center[0]], 13);
      var grids = gridLayer(data.grids).addTo(map);
      var points = L.layerGroup();
      data.points.forEach(function (p) {
        var m = L.circleMarker([p.lat, p.lon], { radius: 4, color: "#2e7d32", weight: 1, fillOpacity: 0.7 });
        var box = document.createElement("div");
        box.appendChild(text("strong", p.name));
        box.appendChild(text("div", p.type_name, "muted"));
        var link = text("a", "点位详情");
        link.href = "/places/points/" + p.id;
        box.appendChild(link);
        m.bindPopup(box);
        points.addLayer(m);
      });
      var cases = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50, chunkedLoading: true });
      data.cases.forEach(function (c) {
        var m = L.circleMarker([c.lat, c.lon], { radius: 7, color: "#fff", weight: 1.5, fillColor: alertColour[c.alert] || alertColour[""], fillOpacity: 0.9 });
        var box = document.createElement("div");
        var link = text("a", c.number);
        link.href = "/cases/" + c.id;
        box.appendChild(link);
        box.appendChild(text("div", c.category));
        box.appendChild(text("div", c.state + (c.alert === "red" ? " · 已超期" : c.alert === "amber" ? " · 即将超期" : ""), "muted"));
        m.bindPopup(box);
        cases.addLayer(m);
      });
      cases.addTo(map);
      L.control.layers(null, { "网格": grids, "点位": points, "办理中的案卷": cases }, { collapsed: false }).addTo(map);
      if (data.grids.features.length) map.fitBounds(grids.getBounds());
      full.dataset.zoom = String(map.getZoom());
      status.textContent = "网格 " + data.grids.features.length + " 个 · 点位 " + data.points.length + " 个 · 办理中的案卷 " +
        data.cases.length + " 件" + (data.cases_truncated ? "（仅显示最新的 " + data.cases.length + " 件）" : "");
      full.dataset.ready = "1";
    }).catch(function (e) { status.textContent = e.message; });
  }

  // The small map of a case page: the spot inside its grid cell.
  var mini = document.getElementById("case-map");
  if (mini) {
    var d = mini.dataset;
    var small = baseMap(mini, { scrollWheelZoom: false });
    var at = [parseFloat(d.lat), parseFloat(d.lon)];
    small.setView(at, 17);
    if (d.grid) {
      try { gridLayer(JSON.parse(d.grid)).addTo(small); } catch (e) { /* a grid that does not parse is left out */ }
    }
    L.circleMarker(at, { radius: 8, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 0.95 }).addTo(small);
    mini.dataset.ready = "1";
  }

  // A round of evaluation: the points it drew, by how they stand.
  var round = document.getElementById("round-map");
  if (round) {
    var roundMap = baseMap(round, { scrollWheelZoom: false });
    var colour = { pending: "#7b8794", done: "#2e7d32", failed: "#c62828" };
    var spots = JSON.parse(round.dataset.points || "[]");
    var bounds = [];
    spots.forEach(function (p) {
      var at = [p.lat, p.lon];
      bounds.push(at);
      L.circleMarker(at, { radius: 8, color: "#fff", weight: 2, fillColor: colour[p.state] || colour.pending, fillOpacity: 0.95 })
        .bindTooltip(text("span", p.name + "：" + p.label))
        .addTo(roundMap);
    });
    if (bounds.length) roundMap.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
    round.dataset.drawn = String(bounds.length);
    load("grids").then(function (data) { gridLayer(data.grids).addTo(roundMap); }).catch(function () {});
    round.dataset.ready = "1";
  }

  // The report form: a tap on the map sets the spot.
  var pick = document.getElementById("pick-map");
  var open = document.getElementById("pick-open");
  if (pick && open) {
    var picker = null, marker = null;
    open.addEventListener("click", function () {
      pick.hidden = false;
      open.hidden = true;
      if (picker) return;
      picker = baseMap(pick);
      var lon = document.getElementById("lon"), lat = document.getElementById("lat"), crs = document.getElementById("crs");
      load("grids").then(function (data) {
        var grids = gridLayer(data.grids).addTo(picker);
        if (lon.value && lat.value && crs.value === data.crs) {
          picker.setView([parseFloat(lat.value), parseFloat(lon.value)], 17);
        } else if (data.grids.features.length) {
          picker.fitBounds(grids.getBounds());
        } else {
          picker.setView([data.center[1], data.center[0]], 13);
        }
        picker.on("click", function (e) {
          lon.value = e.latlng.lng.toFixed(6);
          lat.value = e.latlng.lat.toFixed(6);
          crs.value = data.crs;
          if (marker) marker.setLatLng(e.latlng);
          else marker = L.marker(e.latlng).addTo(picker);
          document.getElementById("where").textContent = "已在地图上选点";
          lon.dispatchEvent(new Event("change"));
        });
      });
    });
  }
})();
