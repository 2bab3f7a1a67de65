/*
 * Draws every `.chart[data-chart]` element with uPlot (vendor/uplot, loaded first).
 *
 * data-chart is JSON:
 *   {"title": "...", "x": [unix seconds, ...],
 *    "series": [{"label": "ru", "values": [3, 0, 5, ...]}, ...],
 *    "stacked": true}
 *
 * Labels and titles are crawled data: they only ever reach the page as text
 * (uPlot sets legend labels and the title with textContent; this script uses
 * textContent too). No innerHTML, no eval, no inline handlers (CSP-safe).
 */
(function () {
  "use strict";

  var HEIGHT = 220;
  var DAY = 86400, MONTH = 30 * DAY, YEAR = 365 * DAY; // uPlot's own month/year constants
  // x ticks never finer than one day
  var X_INCRS = [DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 7 * DAY, 10 * DAY, 15 * DAY,
    MONTH, 2 * MONTH, 3 * MONTH, 4 * MONTH, 6 * MONTH, YEAR, 2 * YEAR, 5 * YEAR, 10 * YEAR];
  // [min incr, default format, year rollover, month, day, hour, min, sec, concat mode]
  var X_VALUES = [
    [YEAR, "{YYYY}", null, null, null, null, null, null, 1],
    [28 * DAY, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [DAY, "{MMM} {D}", "\n{YYYY}", null, null, null, null, null, 1]
  ];
  var MIN_WIDTH = 300;
  var PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"
  ];

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function message(el, text) {
    el.textContent = "";
    el.appendChild(document.createTextNode(text));
  }

  function widthOf(el) {
    return Math.max(MIN_WIDTH, el.clientWidth || 0);
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function utcDay(u, v) {
    return v == null ? "--" : new Date(v * 1000).toISOString().slice(0, 10);
  }

  function fmtNum(v) {
    if (v == null) return "--";
    return Math.round(v) === v ? String(v) : v.toFixed(2);
  }

  // Normalise the parsed spec; returns null when there is nothing to draw.
  function normalise(spec) {
    if (!spec || !Array.isArray(spec.x) || !Array.isArray(spec.series)) return null;
    var n = spec.x.length;
    var series = [];
    for (var i = 0; i < spec.series.length; i++) {
      var s = spec.series[i] || {};
      var vals = Array.isArray(s.values) ? s.values : [];
      var out = new Array(n);
      for (var j = 0; j < n; j++) out[j] = num(vals[j]);
      series.push({ label: String(s.label == null ? "" : s.label), values: out });
    }
    if (n === 0 || series.length === 0) return null;
    return {
      title: spec.title == null ? "" : String(spec.title),
      x: spec.x.map(num),
      series: series,
      stacked: !!spec.stacked
    };
  }

  // Cumulative sums over the shown series, and bands filling between each
  // shown series and the shown series below it.
  function stack(raw, shown) {
    var n = raw[0].length;
    var acc = new Array(n);
    var data = [raw[0]];
    var bands = [];
    var prev = null;
    for (var j = 0; j < n; j++) acc[j] = 0;
    for (var i = 1; i < raw.length; i++) {
      var col = new Array(n);
      for (j = 0; j < n; j++) {
        if (shown[i]) acc[j] += raw[i][j] || 0;
        col[j] = acc[j];
      }
      data.push(col);
      if (shown[i]) {
        if (prev !== null) bands.push({ series: [i, prev] });
        prev = i;
      }
    }
    return { data: data, bands: bands };
  }

  function build(el, d) {
    var raw = [d.x];
    var series = [{ label: "Day", value: utcDay }];
    for (var i = 0; i < d.series.length; i++) {
      var color = PALETTE[i % PALETTE.length];
      raw.push(d.series[i].values);
      series.push({
        label: d.series[i].label, // rendered by uPlot with textContent
        stroke: color,
        width: 1.5,
        fill: d.stacked ? rgba(color, 0.45) : undefined,
        spanGaps: false,
        points: { show: d.x.length < 60 },
        // legend shows the series' own value, not the cumulative one
        value: d.stacked
          ? (function (k) {
              return function (u, v, si, idx) { return idx == null ? "--" : fmtNum(raw[k][idx]); };
            })(i + 1)
          : function (u, v) { return fmtNum(v); }
      });
    }

    var shown = raw.map(function () { return true; });
    var st = d.stacked ? stack(raw, shown) : { data: raw, bands: [] };

    var opts = {
      title: d.title || undefined, // uPlot sets it with textContent
      width: widthOf(el),
      height: HEIGHT,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true, range: function (u, min, max) {
        // uPlot widens a single point to min + 1000 days with second timestamps
        var xs = u.data[0];
        return xs.length === 1 ? [xs[0] - DAY, xs[0] + DAY] : [min, max];
      } }, y: { range: function (u, min, max) {
        return [Math.min(0, min), max > 0 ? max * 1.05 : 1];
      } } },
      series: series,
      bands: st.bands,
      axes: [{ incrs: X_INCRS, values: X_VALUES }, { size: 50 }],
      cursor: { points: { show: !d.stacked } },
      legend: { live: true },
      hooks: d.stacked ? {
        setSeries: [function (u, si) {
          for (var k = 1; k < u.series.length; k++) shown[k] = u.series[k].show;
          var re = stack(raw, shown);
          u.delBand(null);
          re.bands.forEach(function (b) { u.addBand(b); });
          u.setData(re.data);
        }]
      } : {}
    };

    el.textContent = "";
    return new uPlot(opts, st.data, el);
  }

  var charts = [];

  function init() {
    if (typeof window.uPlot !== "function") return;
    var els = document.querySelectorAll(".chart[data-chart]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.getAttribute("data-chart-drawn")) continue;
      el.setAttribute("data-chart-drawn", "1");
      var d;
      try {
        d = normalise(JSON.parse(el.getAttribute("data-chart")));
      } catch (e) {
        message(el, "Chart data could not be read.");
        continue;
      }
      if (!d) {
        message(el, "No data in this range.");
        continue;
      }
      try {
        charts.push({ el: el, u: build(el, d) });
      } catch (e) {
        message(el, "Chart could not be drawn.");
      }
    }
  }

  var timer = null;
  window.addEventListener("resize", function () {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () {
      timer = null;
      charts.forEach(function (c) {
        c.u.setSize({ width: widthOf(c.el), height: HEIGHT });
      });
    }, 150);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
