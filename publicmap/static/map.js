// The public epidemic map. Everything comes from this service: the figures from
// /v1/public/regions (cached by the browser with its ETag), Chart.js from /map/static.
(function () {
  'use strict';

  // The 34 provinces since 1 July 2025 as a tile grid: [code, short name, column, row],
  // placed roughly where each lies (north at the top, the Mekong delta at the bottom left).
  var TILES = [
    [12, 'Lai Châu', 1, 0], [15, 'Lào Cai', 2, 0], [8, 'Tuyên Quang', 3, 0], [4, 'Cao Bằng', 4, 0],
    [11, 'Điện Biên', 0, 1], [14, 'Sơn La', 1, 1], [25, 'Phú Thọ', 2, 1], [19, 'Thái Nguyên', 3, 1],
    [20, 'Lạng Sơn', 4, 1],
    [1, 'Hà Nội', 2, 2], [24, 'Bắc Ninh', 3, 2], [22, 'Quảng Ninh', 4, 2],
    [37, 'Ninh Bình', 2, 3], [33, 'Hưng Yên', 3, 3], [31, 'Hải Phòng', 4, 3],
    [38, 'Thanh Hóa', 2, 4], [40, 'Nghệ An', 2, 5], [42, 'Hà Tĩnh', 3, 6], [44, 'Quảng Trị', 3, 7],
    [46, 'Huế', 3, 8], [48, 'Đà Nẵng', 4, 8], [51, 'Quảng Ngãi', 4, 9], [52, 'Gia Lai', 4, 10],
    [66, 'Đắk Lắk', 4, 11], [68, 'Lâm Đồng', 3, 12], [56, 'Khánh Hòa', 4, 12],
    [80, 'Tây Ninh', 1, 13], [75, 'Đồng Nai', 2, 13], [79, 'TP. Hồ Chí Minh', 3, 13],
    [91, 'An Giang', 0, 14], [82, 'Đồng Tháp', 1, 14], [86, 'Vĩnh Long', 2, 14],
    [96, 'Cà Mau', 0, 15], [92, 'Cần Thơ', 1, 15]
  ];
  // Light to dark: the darkest class holds the largest figures.
  var SHADES = ['#fde4cf', '#f9b98c', '#ef8a5a', '#d6543a', '#a3202a'];
  var EMPTY = '#eef1f4';
  var HIDDEN = '#c9ced6';
  var DAYS = 30;

  var state = { threshold: 5, province: null, national: null, wards: null, chart: null };

  function $(id) { return document.getElementById(id); }

  function vietnamToday() {
    var now = new Date(Date.now() + 7 * 3600 * 1000);  // Vietnam is UTC+7 all year
    return now.toISOString().slice(0, 10);
  }

  function addDays(iso, n) {
    var d = new Date(iso + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function setStatus(state, text) {
    $('status').dataset.state = state;
    $('status').textContent = text;
  }

  function shown(value) {
    if (value === null) return '<' + state.threshold;
    return String(value);
  }

  async function regions(level, province) {
    var url = '/v1/public/regions?level=' + level + '&date=' + encodeURIComponent($('date').value);
    if (province) url += '&province=' + province;
    var response = await fetch(url, { headers: { 'Accept-Language': 'vi' } });
    var body = await response.json();
    if (!response.ok) throw new Error(body.detail || body.title || String(response.status));
    return body;
  }

  // Equal steps from the threshold to the largest figure: a province's shade says which
  // fifth of that range its figure is in.
  function classes(values) {
    var top = Math.max.apply(null, values.filter(function (v) { return v !== null; }).concat([0]));
    var low = state.threshold;
    var step = Math.max((top - low) / SHADES.length, 1);
    return SHADES.map(function (color, i) {
      var from = i === 0 ? low : Math.floor(low + step * i) + 1;
      var to = i === SHADES.length - 1 ? Math.max(top, low) : Math.floor(low + step * (i + 1));
      return { color: color, from: from, to: to };
    });
  }

  function shade(value, bins) {
    if (value === 0 || value === undefined) return EMPTY;
    if (value === null) return HIDDEN;
    for (var i = bins.length - 1; i >= 0; i--) {
      if (value >= bins[i].from) return bins[i].color;
    }
    return bins[0].color;
  }

  function drawTiles() {
    var measure = $('measure').value;
    var byCode = {};
    state.national.regions.forEach(function (r) { byCode[r.code] = r[measure]; });
    var values = TILES.map(function (t) { return byCode[t[0]]; });
    var bins = classes(values.filter(function (v) { return v !== undefined; }));
    var grid = $('tiles');
    grid.replaceChildren();
    TILES.forEach(function (t) {
      var value = byCode[t[0]];
      var tile = document.createElement('button');
      tile.type = 'button';
      tile.className = 'tile';
      tile.dataset.province = t[0];
      tile.dataset.value = value === null ? 'hidden' : String(value || 0);
      tile.style.gridColumn = String(t[2] + 1);
      tile.style.gridRow = String(t[3] + 1);
      var color = shade(value, bins);
      tile.style.backgroundColor = color;
      if (color === SHADES[3] || color === SHADES[4]) tile.classList.add('dark');
      if (state.province === t[0]) tile.classList.add('chosen');
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = t[1];
      var figure = document.createElement('span');
      figure.className = 'figure';
      figure.textContent = value === undefined ? '0' : shown(value);
      tile.append(name, figure);
      tile.setAttribute('aria-label', t[1] + ': ' + figure.textContent);
      tile.addEventListener('click', function () { choose(t[0]); });
      grid.appendChild(tile);
    });
    drawLegend(bins);
  }

  function drawLegend(bins) {
    var legend = $('legend');
    legend.replaceChildren();
    var items = [[EMPTY, '0'], [HIDDEN, '<' + state.threshold + ' (ẩn · hidden)']];
    bins.forEach(function (b) {
      items.push([b.color, b.from >= b.to ? String(b.from) : b.from + '–' + b.to]);
    });
    items.forEach(function (item) {
      var li = document.createElement('li');
      var swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.backgroundColor = item[0];
      li.append(swatch, document.createTextNode(item[1]));
      legend.appendChild(li);
    });
  }

  function drawTrend(body, title) {
    $('trend-title').textContent = title;
    var labels = body.trend.map(function (d) { return d.day.slice(8, 10) + '/' + d.day.slice(5, 7); });
    var data = {
      labels: labels,
      datasets: [
        { label: 'Ca xác nhận (confirmed)', measure: 'confirmed', backgroundColor: '#a3202a',
          data: body.trend.map(function (d) { return d.confirmed; }) },
        { label: 'Khai báo có triệu chứng (with symptoms)', measure: 'symptoms', backgroundColor: '#f0a35e',
          data: body.trend.map(function (d) { return d.declarations_with_symptoms; }) }
      ]
    };
    if (state.chart) state.chart.destroy();
    state.chart = new Chart($('chart-trend'), {
      type: 'bar',
      data: data,
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: 'bottom' } }
      }
    });
  }

  function cell(tag, text, className) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function fillWards(body) {
    var measure = $('measure').value;
    var rows = body.regions.filter(function (r) {
      return r.confirmed_cases !== 0 || r.confirmed_last_7_days !== 0 ||
        r.declarations_with_symptoms_last_7_days !== 0 || r.under_monitoring !== 0;
    });
    var rank = function (r) { return r[measure] === null ? 0.5 : r[measure]; };
    rows.sort(function (a, b) { return rank(b) - rank(a) || a.name.localeCompare(b.name, 'vi'); });
    var tbody = $('ward-table').tBodies[0];
    tbody.replaceChildren();
    rows.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.dataset.ward = r.code;
      tr.appendChild(cell('td', r.name));
      ['confirmed_cases', 'confirmed_last_7_days', 'declarations_with_symptoms_last_7_days',
        'under_monitoring'].forEach(function (m) {
        tr.appendChild(cell('td', shown(r[m]), 'num' + (r[m] === null ? ' hidden-cell' : '')));
      });
      tbody.appendChild(tr);
    });
    var quiet = body.regions.length - rows.length;
    $('wards-quiet').textContent = quiet + ' phường, xã khác không có số liệu · ' + quiet +
      ' other wards have nothing to show';
  }

  async function choose(code) {
    state.province = code;
    try {
      setStatus('loading', 'Đang tải… · Loading…');
      var body = await regions('ward', code);
      state.wards = body;
      $('wards-title').textContent = body.province_name + ' — phường, xã · wards';
      $('wards-card').hidden = false;
      fillWards(body);
      drawTrend(body, body.province_name);
      drawTiles();
      setStatus('ready', '');
    } catch (error) {
      setStatus('error', 'Không tải được số liệu · Could not load the figures: ' + error.message);
    }
  }

  function whole() {
    state.province = null;
    state.wards = null;
    $('wards-card').hidden = true;
    drawTrend(state.national, 'Cả nước · Whole country');
    drawTiles();
  }

  async function load() {
    try {
      setStatus('loading', 'Đang tải… · Loading…');
      state.national = await regions('province');
      state.threshold = state.national.threshold;
      document.querySelectorAll('.threshold').forEach(function (el) {
        el.textContent = String(state.threshold);
      });
      document.querySelectorAll('.base').forEach(function (el) {
        el.textContent = String(state.national.rounding.base);
      });
      $('updated').textContent = 'Cập nhật · Updated ' +
        new Date(state.national.updated_at).toLocaleString('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh' });
      if (state.province) {
        await choose(state.province);
      } else {
        whole();
      }
      setStatus('ready', '');
    } catch (error) {
      setStatus('error', 'Không tải được số liệu · Could not load the figures: ' + error.message);
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    var today = vietnamToday();
    $('date').value = today;
    $('date').max = today;
    $('date').min = addDays(today, 1 - DAYS);
    $('measure').addEventListener('change', function () {
      drawTiles();
      if (state.wards) fillWards(state.wards);
    });
    $('date').addEventListener('change', load);
    $('controls').addEventListener('submit', function (event) { event.preventDefault(); load(); });
    $('wards-close').addEventListener('click', whole);
    load();
  });
})();
