/* Khaibao ministry dashboard. No framework: sign in, fetch the reports, draw them.
 * The access token lives in this closure only (never localStorage): closing the tab signs out.
 * Data is written with textContent only, never as HTML. */
(function () {
  'use strict';

  var session = { access: null, refresh: null };
  var charts = {};

  var STATUSES = [
    { key: 'green', vi: 'Xanh', en: 'green', color: '#2e7d32' },
    { key: 'yellow', vi: 'Vàng', en: 'yellow', color: '#f2a900' },
    { key: 'red', vi: 'Đỏ', en: 'red', color: '#c62828' }
  ];
  var SYMPTOMS = {
    fever: 'Sốt (fever)',
    cough: 'Ho (cough)',
    shortness_of_breath: 'Khó thở (shortness of breath)',
    sore_throat: 'Đau họng (sore throat)',
    fatigue: 'Mệt mỏi (fatigue)',
    loss_of_taste_or_smell: 'Mất vị giác/khứu giác (taste/smell)',
    pneumonia: 'Viêm phổi (pneumonia)'
  };
  var TOP_PROVINCES = 10;
  var REASONS = [
    { key: 'contact', vi: 'Tiếp xúc', en: 'contact', color: '#6a1b9a' },
    { key: 'entry', vi: 'Nhập cảnh', en: 'entry', color: '#00838f' },
    { key: 'case', vi: 'Ca bệnh', en: 'case', color: '#c62828' },
    { key: 'other', vi: 'Khác', en: 'other', color: '#607d8b' }
  ];
  var CATEGORIES = {
    declaration: 'Khai báo (declaration)',
    qr_code: 'Mã QR (QR code)',
    testing: 'Xét nghiệm (testing)',
    quarantine: 'Cách ly (quarantine)',
    vaccination: 'Tiêm chủng (vaccination)',
    travel: 'Đi lại (travel)',
    other: 'Khác (other)'
  };
  var QUESTION_STATUSES = ['received', 'answered', 'published', 'rejected'];
  var points = null; // id -> name, from the public list of gates

  function $(id) { return document.getElementById(id); }

  function vietnamToday() {
    // en-CA formats as YYYY-MM-DD; reports count days in Vietnam time.
    return new Intl.DateTimeFormat('en-CA', {
      timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric', month: '2-digit', day: '2-digit'
    }).format(new Date());
  }

  function addDays(iso, n) {
    var d = new Date(iso + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function daysBetween(first, last) {
    var out = [];
    for (var day = first; day <= last && out.length < 400; day = addDays(day, 1)) out.push(day);
    return out;
  }

  function setStatus(state, text) {
    var el = $('status');
    el.dataset.state = state;
    el.textContent = text;
  }

  async function problemText(response) {
    try {
      var problem = await response.json();
      return problem.title + (problem.detail ? ': ' + problem.detail : '');
    } catch (e) {
      return 'Lỗi ' + response.status + ' (error)';
    }
  }

  async function requestToken(body) {
    return fetch('/v1/auth/' + (body.refresh_token ? 'refresh' : 'token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Language': 'vi' },
      body: JSON.stringify(body)
    });
  }

  async function refreshSession() {
    if (!session.refresh) return false;
    var response = await requestToken({ refresh_token: session.refresh });
    if (!response.ok) return false;
    var tokens = await response.json();
    session.access = tokens.access_token;
    session.refresh = tokens.refresh_token || session.refresh;
    return true;
  }

  async function api(path, accept) {
    var send = function () {
      return fetch(path, {
        headers: {
          Authorization: 'Bearer ' + session.access,
          Accept: accept || 'application/json',
          'Accept-Language': 'vi'
        }
      });
    };
    var response = await send();
    if (response.status === 401 && (await refreshSession())) response = await send();
    if (response.status === 401) {
      showSignIn('Phiên đăng nhập đã hết hạn. Session expired, sign in again.');
      throw new Error('signed out');
    }
    if (!response.ok) throw new Error(await problemText(response));
    return response;
  }

  function showSignIn(message) {
    session.access = session.refresh = null;
    $('reports').hidden = true;
    $('signout').hidden = true;
    $('signin').hidden = false;
    var error = $('signin-error');
    error.hidden = !message;
    error.textContent = message || '';
  }

  function showReports() {
    $('signin').hidden = true;
    $('reports').hidden = false;
    $('signout').hidden = false;
    $('password').value = '';
  }

  /* -- reports -------------------------------------------------------------------------- */

  function query(groupBy, report) {
    return '/v1/reports/' + (report || 'declarations') + '?from=' +
      encodeURIComponent($('from').value) + '&to=' + encodeURIComponent($('to').value) +
      (groupBy ? '&group_by=' + groupBy : '');
  }

  function json(path) { return api(path).then(function (r) { return r.json(); }); }

  async function pointNames() {
    if (points) return points;
    var response = await fetch('/v1/entry/points', { headers: { 'Accept-Language': 'vi' } });
    var found = {};
    if (response.ok) {
      (await response.json()).items.forEach(function (p) { found[p.id] = p.name; });
    }
    points = found;
    return points;
  }

  async function load() {
    setStatus('loading', 'Đang tải… (loading)');
    try {
      var results = await Promise.all([
        json(query('day,status')),
        json(query('province,status')),
        json(query('symptom')),
        json(query('day,status', 'arrivals')),
        json(query('point_of_entry,status', 'arrivals')),
        json(query('day,reason', 'monitoring')),
        json(query('province', 'monitoring')),
        json(query(null, 'questions')),
        pointNames()
      ]);
      document.querySelectorAll('.threshold').forEach(function (el) {
        el.textContent = String(results[0].threshold);
      });
      drawDays(results[0]);
      drawProvinces(results[1]);
      drawSymptoms(results[2]);
      fillTable(results[1]);
      drawArrivals(results[3]);
      fillArrivals(results[4], results[8]);
      drawMonitoring(results[5]);
      fillMonitoring(results[6]);
      fillQuestions(results[7]);
      // Every cell hidden (a fresh install): say so, and how to get something to look at.
      $('sparse').hidden = results[1].rows.some(function (row) {
        return !row.suppressed && row.count > 0;
      });
      setStatus('ready', 'Cập nhật lúc ' + new Date().toLocaleTimeString('vi-VN') +
        ' · ' + results[0].from + ' → ' + results[0].to);
    } catch (e) {
      if (e.message !== 'signed out') setStatus('error', e.message);
    }
  }

  // A shown count, null for a suppressed cell (a gap in the chart), 0 for an absent one.
  function value(row) { return row ? (row.suppressed ? null : row.count) : 0; }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: 'bottom' } }
    }, config.options || {});
    charts[id] = new Chart($(id), config);
  }

  function drawDays(report) {
    var days = daysBetween(report.from, report.to);
    var index = {};
    report.rows.forEach(function (row) { index[row.day + '|' + row.status] = row; });
    draw('chart-days', {
      type: 'line',
      data: {
        labels: days.map(function (d) { return d.slice(8, 10) + '/' + d.slice(5, 7); }),
        datasets: STATUSES.map(function (s) {
          return {
            label: s.vi + ' (' + s.en + ')', status: s.key, borderColor: s.color,
            backgroundColor: s.color, pointRadius: 2, spanGaps: false,
            data: days.map(function (d) { return value(index[d + '|' + s.key]); })
          };
        })
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  function byProvince(report) {
    var provinces = {};
    report.rows.forEach(function (row) {
      var p = provinces[row.province] || (provinces[row.province] = {
        code: row.province, name: row.province_name || String(row.province), cells: {}
      });
      p.cells[row.status] = row;
    });
    return Object.keys(provinces).map(function (k) { return provinces[k]; });
  }

  function shownSum(province, statuses) {
    return statuses.reduce(function (sum, s) { return sum + (value(province.cells[s]) || 0); }, 0);
  }

  function drawProvinces(report) {
    var top = byProvince(report)
      .filter(function (p) { return shownSum(p, ['yellow', 'red']) > 0; })
      .sort(function (a, b) { return shownSum(b, ['yellow', 'red']) - shownSum(a, ['yellow', 'red']); })
      .slice(0, TOP_PROVINCES);
    draw('chart-provinces', {
      type: 'bar',
      data: {
        labels: top.map(function (p) { return p.name; }),
        datasets: STATUSES.slice(1).map(function (s) {
          return {
            label: s.vi + ' (' + s.en + ')', status: s.key, backgroundColor: s.color,
            data: top.map(function (p) { return value(p.cells[s.key]); })
          };
        })
      },
      options: {
        indexAxis: 'y',
        scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } }
      }
    });
  }

  function drawSymptoms(report) {
    var rows = report.rows;
    draw('chart-symptoms', {
      type: 'bar',
      data: {
        labels: rows.map(function (r) {
          // A hidden cell draws no bar; say why instead of letting it read as zero.
          return (SYMPTOMS[r.symptom] || r.symptom) + (r.suppressed ? ' <' + report.threshold : '');
        }),
        datasets: [{
          label: 'Số khai báo có triệu chứng (declarations naming it)',
          backgroundColor: '#0b4f8a',
          data: rows.map(value)
        }]
      },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  function cell(tag, text, className) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function fillTable(report) {
    var body = $('province-table').tBodies[0];
    var foot = $('province-table').tFoot;
    body.replaceChildren();
    foot.replaceChildren();
    var hidden = '<' + report.threshold;
    var totals = { green: 0, yellow: 0, red: 0 };
    byProvince(report)
      .sort(function (a, b) { return a.name.localeCompare(b.name, 'vi'); })
      .forEach(function (p) {
        var tr = document.createElement('tr');
        tr.dataset.province = p.code;
        tr.appendChild(cell('td', p.name));
        STATUSES.forEach(function (s) {
          var row = p.cells[s.key];
          var td = cell('td', row ? (row.suppressed ? hidden : String(row.count)) : '0',
            'num' + (row && row.suppressed ? ' hidden-cell' : ''));
          td.dataset.status = s.key;
          tr.appendChild(td);
          totals[s.key] += value(row) || 0;
        });
        tr.appendChild(cell('td', String(shownSum(p, ['green', 'yellow', 'red'])), 'num'));
        body.appendChild(tr);
      });
    var tr = document.createElement('tr');
    tr.appendChild(cell('td', 'Tổng (ô hiển thị) · Total of shown cells'));
    STATUSES.forEach(function (s) { tr.appendChild(cell('td', String(totals[s.key]), 'num')); });
    tr.appendChild(cell('td', String(report.total.count), 'num'));
    foot.appendChild(tr);
  }

  /* -- arrivals, monitoring, questions ------------------------------------------------- */

  function dayLabels(days) {
    return days.map(function (d) { return d.slice(8, 10) + '/' + d.slice(5, 7); });
  }

  function shown(row, threshold) {
    return row ? (row.suppressed ? '<' + threshold : String(row.count)) : '0';
  }

  function numberCell(row, threshold) {
    return cell('td', shown(row, threshold), 'num' + (row && row.suppressed ? ' hidden-cell' : ''));
  }

  function drawArrivals(report) {
    var days = daysBetween(report.from, report.to);
    var index = {};
    report.rows.forEach(function (row) { index[row.day + '|' + row.status] = row; });
    draw('chart-arrivals', {
      type: 'bar',
      data: {
        labels: dayLabels(days),
        datasets: STATUSES.map(function (s) {
          return {
            label: s.vi + ' (' + s.en + ')', status: s.key, backgroundColor: s.color,
            data: days.map(function (d) { return value(index[d + '|' + s.key]); })
          };
        })
      },
      options: {
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  function fillArrivals(report, names) {
    var gates = {};
    report.rows.forEach(function (row) {
      (gates[row.point_of_entry] = gates[row.point_of_entry] || {})[row.status] = row;
    });
    var body = $('arrivals-table').tBodies[0];
    body.replaceChildren();
    Object.keys(gates).sort().forEach(function (id) {
      var tr = document.createElement('tr');
      tr.dataset.point = id;
      tr.appendChild(cell('td', names[id] || id));
      STATUSES.forEach(function (s) { tr.appendChild(numberCell(gates[id][s.key], report.threshold)); });
      body.appendChild(tr);
    });
  }

  function drawMonitoring(report) {
    var days = daysBetween(report.from, report.to);
    var index = {};
    report.rows.forEach(function (row) {
      if (row.measure === 'under_monitoring') index[row.day + '|' + row.reason] = row;
    });
    draw('chart-monitoring', {
      type: 'bar',
      data: {
        labels: dayLabels(days),
        datasets: REASONS.map(function (r) {
          return {
            label: r.vi + ' (' + r.en + ')', reason: r.key, backgroundColor: r.color,
            data: days.map(function (d) { return value(index[d + '|' + r.key]); })
          };
        })
      },
      options: {
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  function fillMonitoring(report) {
    var provinces = {};
    report.rows.forEach(function (row) {
      var p = provinces[row.province] || (provinces[row.province] = {
        code: row.province, name: row.province_name || String(row.province)
      });
      p[row.measure] = row;
    });
    var body = $('monitoring-table').tBodies[0];
    body.replaceChildren();
    Object.keys(provinces).map(function (k) { return provinces[k]; })
      .sort(function (a, b) { return a.name.localeCompare(b.name, 'vi'); })
      .forEach(function (p) {
        var tr = document.createElement('tr');
        tr.dataset.province = p.code;
        tr.appendChild(cell('td', p.name));
        tr.appendChild(numberCell(p.under_monitoring, report.threshold));
        tr.appendChild(numberCell(p.needs_attention, report.threshold));
        body.appendChild(tr);
      });
  }

  function fillQuestions(report) {
    var categories = {};
    report.rows.forEach(function (row) {
      (categories[row.category] = categories[row.category] || {})[row.status] = row;
    });
    var medians = {};
    report.answer_times.forEach(function (t) { medians[t.category] = t; });
    var body = $('questions-table').tBodies[0];
    body.replaceChildren();
    Object.keys(CATEGORIES).filter(function (c) { return categories[c]; }).forEach(function (c) {
      var tr = document.createElement('tr');
      tr.dataset.category = c;
      tr.appendChild(cell('td', CATEGORIES[c]));
      QUESTION_STATUSES.forEach(function (s) {
        tr.appendChild(numberCell(categories[c][s], report.threshold));
      });
      var time = medians[c];
      tr.appendChild(cell('td', !time ? '–' : (time.suppressed ? 'ẩn (hidden)' :
        String(time.median_hours)), 'num'));
      body.appendChild(tr);
    });
  }

  async function downloadCsv(path) {
    try {
      var response = await api(path || query('province,status'), 'text/csv');
      var blob = await response.blob();
      var match = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '');
      var link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = match ? match[1] : 'khaibao-report.csv';
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    } catch (e) {
      if (e.message !== 'signed out') setStatus('error', e.message);
    }
  }

  /* -- wiring --------------------------------------------------------------------------- */

  document.addEventListener('DOMContentLoaded', function () {
    var today = vietnamToday();
    $('to').value = today;
    $('from').value = addDays(today, -29);
    // No figures exist for days to come (the monitoring report refuses them).
    $('to').max = today;
    $('from').max = today;

    $('signin-form').addEventListener('submit', async function (event) {
      event.preventDefault();
      $('signin-button').disabled = true;
      try {
        var response = await requestToken({
          username: $('username').value.trim(), password: $('password').value
        });
        if (!response.ok) {
          showSignIn(await problemText(response));
          return;
        }
        var tokens = await response.json();
        session.access = tokens.access_token;
        session.refresh = tokens.refresh_token;
        showReports();
        await load();
      } catch (e) {
        showSignIn('Không kết nối được máy chủ (cannot reach the server).');
      } finally {
        $('signin-button').disabled = false;
      }
    });

    $('range').addEventListener('submit', function (event) {
      event.preventDefault();
      load();
    });
    $('csv').addEventListener('click', function () { downloadCsv(); });
    $('csv-arrivals').addEventListener('click', function () {
      downloadCsv(query('point_of_entry,status', 'arrivals'));
    });
    $('csv-monitoring').addEventListener('click', function () {
      downloadCsv(query('province', 'monitoring'));
    });
    $('csv-questions').addEventListener('click', function () {
      downloadCsv(query(null, 'questions'));
    });
    $('signout').addEventListener('click', function () { showSignIn(''); });
  });
})();
