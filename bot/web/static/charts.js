// torchtutor's charts: a few dozen lines of SVG, no library and no build step.
// Each <figure class="chart" data-src=... data-kind=bars|line|hbars data-x=... data-series=a,b> fetches its table
// from /api/v1/stats/... (the same JSON scripts use) and draws it. Text goes in with textContent, never as HTML.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#ee4c2c", "#7d8ca3", "#2f80ed", "#27ae60", "#f2a93b", "#8e44ad"];
  var LABELS = { answered: "answered", declined: "declined", asked: "asked", answered_share: "share answered" };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = value;
    return node;
  }

  // The top of the y axis: four equal steps of 1, 2 or 5 times a power of ten (whole numbers for counts).
  function niceMax(value) {
    var raw = Math.max(value, 1) / 4;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var step = Math.max(1, steps[i] * power);
      if (step >= raw && Number.isInteger(step)) return step * 4;
    }
    return 40 * power;
  }

  function format(value, percent) {
    if (value === null || value === undefined) return "–";
    if (percent) return Math.round(value * 100) + "%";
    return Number.isInteger(value) ? String(value) : value.toFixed(1);
  }

  function shortDay(label) {
    return /^\d{4}-\d{2}-\d{2}$/.test(label) ? label.slice(5) : label;
  }

  function label(key, columns) {
    var column = columns.filter(function (c) { return c.key === key; })[0];
    return LABELS[key] || (column ? column.label : key);
  }

  function axes(svg, box, max, percent) {
    for (var i = 0; i <= 4; i++) {
      var y = box.top + box.height - (box.height * i) / 4;
      el("line", { x1: box.left, x2: box.left + box.width, y1: y, y2: y, class: "grid" }, svg);
      text(svg, box.left - 6, y + 4, format((max * i) / 4, percent), { class: "tick", "text-anchor": "end" });
    }
  }

  function xLabels(svg, box, rows, x, step) {
    var every = Math.max(1, Math.ceil(rows.length / Math.max(1, Math.floor(box.width / 70))));
    rows.forEach(function (row, i) {
      if (i % every === 0 || i === rows.length - 1 && rows.length < 12) {
        text(svg, box.left + step * (i + 0.5), box.top + box.height + 16, shortDay(String(row[x])),
          { class: "tick", "text-anchor": "middle" });
      }
    });
  }

  function bars(svg, box, rows, x, series, percent, columns) {
    var totals = rows.map(function (r) { return series.reduce(function (s, k) { return s + (r[k] || 0); }, 0); });
    var max = percent ? 1 : niceMax(Math.max.apply(null, totals.concat([0])));
    axes(svg, box, max, percent);
    var step = box.width / Math.max(1, rows.length);
    var width = Math.max(2, Math.min(40, step * 0.7));
    rows.forEach(function (row, i) {
      var base = box.top + box.height;
      series.forEach(function (key, s) {
        var value = row[key] || 0;
        var h = (box.height * value) / max;
        if (h <= 0) return;
        base -= h;
        var rect = el("rect", { x: box.left + step * i + (step - width) / 2, y: base, width: width, height: h,
          fill: COLORS[s % COLORS.length], class: "bar", "data-series": key, "data-value": value }, svg);
        el("title", {}, rect).textContent = row[x] + ": " + format(value, percent) + " " + label(key, columns);
      });
    });
    xLabels(svg, box, rows, x, step);
  }

  function line(svg, box, rows, x, series, percent, columns) {
    var values = [];
    rows.forEach(function (r) { series.forEach(function (k) { if (r[k] !== null) values.push(r[k]); }); });
    var max = percent ? 1 : niceMax(Math.max.apply(null, values.concat([0])));
    axes(svg, box, max, percent);
    var step = box.width / Math.max(1, rows.length);
    series.forEach(function (key, s) {
      var color = COLORS[s % COLORS.length];
      var points = rows.map(function (row, i) {
        var value = row[key];
        if (value === null || value === undefined) return null;
        return { x: box.left + step * (i + 0.5), y: box.top + box.height - (box.height * value) / max, row: row, value: value };
      });
      var path = "", pen = false;
      points.forEach(function (p) {
        if (!p) { pen = false; return; }
        path += (pen ? " L" : " M") + p.x.toFixed(1) + " " + p.y.toFixed(1);
        pen = true;
      });
      el("path", { d: path.trim(), fill: "none", stroke: color, "stroke-width": 2, class: "line" }, svg);
      points.forEach(function (p) {
        if (!p) return;
        var dot = el("circle", { cx: p.x, cy: p.y, r: 3.5, fill: color, class: "point", "data-series": key,
          "data-value": p.value }, svg);
        el("title", {}, dot).textContent = p.row[x] + ": " + format(p.value, percent) + " " + label(key, columns);
      });
    });
    xLabels(svg, box, rows, x, step);
  }

  function hbars(svg, box, rows, x, series, percent, columns) {
    var key = series[0];
    // Bars are labelled with their values, so the longest one simply spans the width.
    var max = percent ? 1 : Math.max.apply(null, rows.map(function (r) { return r[key] || 0; }).concat([1]));
    var rowHeight = box.height / Math.max(1, rows.length);
    var labelWidth = Math.min(260, box.width * 0.42);
    var barArea = box.width - labelWidth - 48;
    rows.forEach(function (row, i) {
      var y = box.top + rowHeight * i;
      var name = String(row[x]);
      text(svg, box.left + labelWidth - 8, y + rowHeight / 2 + 4, name.length > 38 ? name.slice(0, 37) + "…" : name,
        { class: "tick", "text-anchor": "end" });
      var w = Math.max(1, (barArea * (row[key] || 0)) / max);
      var thickness = Math.min(22, rowHeight * 0.64);
      var rect = el("rect", { x: box.left + labelWidth, y: y + (rowHeight - thickness) / 2, width: w, height: thickness,
        fill: COLORS[0], class: "bar", "data-series": key, "data-value": row[key] || 0 }, svg);
      el("title", {}, rect).textContent = name + ": " + format(row[key], percent) + " " + label(key, columns);
      text(svg, box.left + labelWidth + w + 6, y + rowHeight / 2 + 4, format(row[key], percent), { class: "value" });
    });
  }

  function draw(figure, table) {
    var area = figure.querySelector(".chart-area");
    var legend = figure.querySelector(".legend");
    var kind = figure.dataset.kind, x = figure.dataset.x, series = figure.dataset.series.split(",");
    var percent = figure.dataset.percent === "true";
    var rows = table.rows.slice(0, kind === "hbars" ? 12 : 400);
    area.textContent = "";
    legend.textContent = "";
    // A share of 0% is data (every answer wrong); a count of 0 is not. A share is null where nothing was counted.
    var hasData = rows.some(function (r) {
      return series.some(function (k) { return percent ? r[k] !== null && r[k] !== undefined : r[k]; });
    });
    if (!hasData) {
      var empty = document.createElement("p");
      empty.className = "muted chart-empty";
      empty.textContent = "No data for this period yet.";
      area.appendChild(empty);
      return;
    }
    var width = Math.max(280, area.clientWidth || 600);
    var height = kind === "hbars" ? Math.max(90, rows.length * 28 + 10) : 220;
    var svg = el("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, class: "svg-chart",
      "data-kind": kind, "data-rows": rows.length });
    var box = kind === "hbars" ? { left: 4, top: 4, width: width - 8, height: height - 8 }
      : { left: 44, top: 10, width: width - 56, height: height - 36 };
    ({ bars: bars, line: line, hbars: hbars })[kind](svg, box, rows, x, series, percent, table.columns);
    area.appendChild(svg);
    if (kind !== "hbars") {
      series.forEach(function (key, s) {
        var item = document.createElement("span");
        item.className = "legend-item";
        var swatch = el("svg", { width: 12, height: 12, "aria-hidden": "true" });
        el("rect", { width: 12, height: 12, rx: 2, fill: COLORS[s % COLORS.length] }, swatch);
        item.appendChild(swatch);
        item.appendChild(document.createTextNode(" " + label(key, table.columns)));
        legend.appendChild(item);
      });
    }
  }

  var tables = {}; // one request per table, however many charts draw it

  function fetchTable(url) {
    if (!tables[url]) {
      tables[url] = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        });
    }
    return tables[url];
  }

  function load(figure) {
    fetchTable(figure.dataset.src)
      .then(function (table) {
        figure._table = table;
        draw(figure, table);
        figure.classList.add("drawn");
      })
      .catch(function (error) {
        var area = figure.querySelector(".chart-area");
        area.textContent = "Could not load this chart (" + error.message + ").";
        figure.classList.add("failed");
      });
  }

  var figures = Array.prototype.slice.call(document.querySelectorAll("figure.chart"));
  figures.forEach(load);
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      figures.forEach(function (f) { if (f._table) draw(f, f._table); });
    }, 150);
  });
})();
