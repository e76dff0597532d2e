// Charts of the dashboards (ECharts, embedded from npm) and the map of grids
// coloured by rectification rate (Leaflet). Data comes in data-* attributes.
(function () {
  'use strict';
  function read(el, name) {
    try { return JSON.parse(el.getAttribute(name) || '[]'); } catch (e) { return []; }
  }
  var trendEl = document.getElementById('trend-chart');
  if (trendEl && window.echarts) {
    var trend = read(trendEl, 'data-trend');
    var dark = trendEl.hasAttribute('data-dark');
    var chart = echarts.init(trendEl, dark ? 'dark' : null);
    chart.setOption({
      tooltip: { trigger: 'axis' },
      legend: { data: ['上报', '已整改', '超期', '整改率%'] },
      xAxis: { type: 'category', data: trend.map(function (p) { return p.bucket; }) },
      yAxis: [{ type: 'value', name: '件' }, { type: 'value', name: '%', max: 100 }],
      series: [
        { name: '上报', type: 'bar', data: trend.map(function (p) { return p.reported; }) },
        { name: '已整改', type: 'bar', data: trend.map(function (p) { return p.closed; }) },
        { name: '超期', type: 'bar', data: trend.map(function (p) { return p.overdue; }) },
        { name: '整改率%', type: 'line', yAxisIndex: 1, data: trend.map(function (p) { return p.rectification_rate; }) }
      ]
    });
    window.addEventListener('resize', function () { chart.resize(); });
  }
  var campEl = document.getElementById('campaign-chart');
  if (campEl && window.echarts) {
    var rows = read(campEl, 'data-campaigns');
    var c = echarts.init(campEl, 'dark');
    c.setOption({
      tooltip: {}, legend: { data: ['上报', '已整改'] },
      yAxis: { type: 'category', data: rows.map(function (r) { return r[0]; }) }, xAxis: { type: 'value' },
      series: [{ name: '上报', type: 'bar', data: rows.map(function (r) { return r[1]; }) },
               { name: '已整改', type: 'bar', data: rows.map(function (r) { return r[2]; }) }]
    });
  }
  var mapEl = document.getElementById('rate-map');
  if (mapEl && window.L) {
    var rates = {};
    read(mapEl, 'data-grids').forEach(function (g) { rates[g[0]] = g; });
    var map = L.map(mapEl, { preferCanvas: true });
    var tiles = mapEl.getAttribute('data-tile-url');
    if (tiles) { L.tileLayer(tiles, { attribution: mapEl.getAttribute('data-attribution') || '' }).addTo(map); }
    fetch('/api/v1/map/layers?layers=grids', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (data) {
      var layer = L.geoJSON(data.grids, {
        style: function (f) {
          var g = rates[String(f.properties.id)];
          var rate = g && g[1] !== null ? g[1] : null;
          var color = rate === null ? '#999' : rate >= 0.9 ? '#2e7d32' : rate >= 0.8 ? '#9e9d24' : rate >= 0.6 ? '#ef6c00' : '#c62828';
          return { color: '#555', weight: 0.5, fillColor: color, fillOpacity: 0.55 };
        },
        onEachFeature: function (f, l) {
          var g = rates[String(f.properties.id)];
          l.bindTooltip((f.properties.name || '') + (g && g[1] !== null ? ' 整改率 ' + (g[1] * 100).toFixed(1) + '%' : ' 无应整改') + (g ? ' · 未结 ' + g[2] : ''));
        }
      }).addTo(map);
      try { map.fitBounds(layer.getBounds()); } catch (e) { map.setView([39.1, 117.2], 12); }
      mapEl.setAttribute('data-grids-drawn', String(data.grids.features.length));
      mapEl.setAttribute('data-ready', '1');
    });
  }
})();
