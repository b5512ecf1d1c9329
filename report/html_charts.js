// The interactive charts of report.html, drawn by uPlot from the data in
// <script id="chart-data" type="application/json">: hover shows every
// value of the moment in the legend, on every time chart at once; a drag
// zooms (every time chart together), a double click zooms out; a click on
// a legend entry hides or shows its line.
(function () {
	"use strict";
	var el = document.getElementById("chart-data");
	if (!el || typeof uPlot === "undefined") {
		return;
	}
	var charts = JSON.parse(el.textContent);
	// The y axis is as wide on every chart, so that the time charts'
	// plotting areas share their x pixels as they share their range.
	var Y_AXIS = 76, HEIGHT = 280, LOG_FLOOR = 0.001;

	function num(v, digits) {
		return Number(v.toPrecision(digits)).toString();
	}
	function value(unit, v) {
		if (v == null || isNaN(v)) {
			return "--";
		}
		switch (unit) {
		case "ms":
			return v >= 1000 ? num(v / 1000, 3) + " s" : num(v, 3) + " ms";
		case "/s":
			return num(v, 4) + "/s";
		case "%":
			return num(v, 3) + "%";
		}
		return num(v, 4);
	}
	function tick(unit, v) {
		if (v == null) { // a log axis's unlabelled tick
			return "";
		}
		if (unit === "ms") {
			return v >= 1000 ? num(v / 1000, 3) + "s" : num(v, 3) + "ms";
		}
		return num(v, 4);
	}
	function percentile(x) {
		return num((1 - 1 / x) * 100, 7) + "%";
	}

	// spans shades the faults and the warm-up beneath the lines.
	function spans(d) {
		return function (u) {
			var ctx = u.ctx, b = u.bbox, r = uPlot.pxRatio;
			ctx.save();
			ctx.font = Math.round(11 * r) + "px sans-serif";
			ctx.textBaseline = "top";
			(d.spans || []).forEach(function (s, i) {
				var x0 = Math.max(b.left, u.valToPos(s.from, "x", true));
				var x1 = Math.min(b.left + b.width, u.valToPos(s.to, "x", true));
				if (x0 > b.left + b.width || x1 < b.left) {
					return;
				}
				if (s.instant) {
					ctx.strokeStyle = s.ink;
					ctx.lineWidth = r;
					ctx.setLineDash([5 * r, 3 * r]);
					ctx.beginPath();
					ctx.moveTo(x0, b.top);
					ctx.lineTo(x0, b.top + b.height);
					ctx.stroke();
					ctx.setLineDash([]);
				} else {
					ctx.fillStyle = s.fill;
					ctx.fillRect(x0, b.top, x1 - x0, b.height);
				}
				ctx.fillStyle = s.ink;
				ctx.fillText(s.label, x0 + 3 * r, b.top + (3 + 13 * (i % 3)) * r);
			});
			ctx.restore();
		};
	}

	// showRange writes the x range a chart shows on its element
	// (data-x: "min max"). A zoom of one time chart zooms all of them:
	// uPlot's cursor sync shares the selection.
	function showRange(u, key) {
		if (key === "x") {
			u.root.setAttribute("data-x", num(u.scales.x.min, 6) + " " + num(u.scales.x.max, 6));
		}
	}

	function build(d, host) {
		var time = d.kind === "time";
		var x = d.x, ys = d.series.map(function (s) { return s.y; });
		if (time) {
			// The axis runs from the start to the end of the run on every
			// chart, whatever seconds have data.
			x = [d.xmin].concat(x, [d.xmax]);
			ys = ys.map(function (y) { return [null].concat(y, [null]); });
		}
		var series = [{
			label: time ? "time" : "percentile",
			value: function (u, v) { return v == null ? "--" : time ? num(v, 4) + " s" : percentile(v); }
		}];
		d.series.forEach(function (s) {
			series.push({
				label: s.name, stroke: s.colour, width: s.width, dash: s.dash || undefined,
				spanGaps: !time, points: {show: false},
				value: function (u, v) { return value(d.unit, v); }
			});
		});
		var yRange = d.log ?
			function (u, min, max) {
				min = Math.max(min == null ? 1 : min, LOG_FLOOR);
				max = Math.max(max == null ? 10 : max, min);
				var lo = Math.pow(10, Math.floor(Math.log10(min))), hi = Math.pow(10, Math.ceil(Math.log10(max)));
				return [lo, hi > lo ? hi : lo * 10];
			} :
			function (u, min, max) {
				var top = Math.max(max == null ? 0 : max, d.unit === "%" ? 100 : 1);
				return [0, top * 1.08];
			};
		var opts = {
			width: Math.max(host.clientWidth, 300),
			height: HEIGHT,
			cursor: {sync: time ? {key: "ilities-time"} : undefined, drag: {x: true, y: false}},
			scales: {
				x: {time: false, distr: time ? 1 : 3, range: function (u, min, max) { return [min, max]; }},
				y: {distr: d.log ? 3 : 1, range: yRange}
			},
			axes: [
				{label: time ? "time since start (s)" : "percentile",
					values: time ? undefined : function (u, ticks) {
						return ticks.map(function (t) { return t != null && Math.abs(Math.log10(t) % 1) < 1e-9 ? percentile(t) : ""; });
					}},
				{label: d.ylabel, size: Y_AXIS,
					values: function (u, ticks) { return ticks.map(function (t) { return tick(d.unit, t); }); }}
			],
			series: series,
			hooks: {drawClear: [spans(d)], setScale: [showRange]}
		};
		return new uPlot(opts, [x].concat(ys), host);
	}

	var plots = [];
	document.querySelectorAll("[data-chart]").forEach(function (host) {
		var d = charts[Number(host.getAttribute("data-chart"))];
		if (d) {
			plots.push({u: build(d, host), host: host});
		}
	});
	var pending = 0;
	window.addEventListener("resize", function () {
		cancelAnimationFrame(pending);
		pending = requestAnimationFrame(function () {
			plots.forEach(function (p) { p.u.setSize({width: Math.max(p.host.clientWidth, 300), height: HEIGHT}); });
		});
	});
})();
