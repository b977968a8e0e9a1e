// pin-collector dashboard: draws the timeline charts, nothing else.
// Pages work without this file; each chart's data comes from a
// <script type="application/json" id="..."> block named by the canvas's data-chart attribute
// (no inline script, no inline style: the page's CSP allows neither).
"use strict";

(function () {
  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var styles = window.getComputedStyle(document.documentElement);
    var bar = styles.getPropertyValue("--chart-bar").trim() || "#1f5fbf";
    var grid = styles.getPropertyValue("--chart-grid").trim() || "#e4e7ec";
    var ink = styles.getPropertyValue("--ink-muted").trim() || "#475467";
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: data.series,
          data: data.values,
          backgroundColor: bar,
          borderWidth: 0,
          barPercentage: 1.0,
          categoryPercentage: 0.9
        }]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: {display: false},
          tooltip: {intersect: false, mode: "index"}
        },
        scales: {
          x: {grid: {display: false}, ticks: {color: ink, autoSkip: true, maxTicksLimit: 10,
                                                maxRotation: 0}},
          y: {beginAtZero: true, grid: {color: grid}, ticks: {color: ink, precision: 0}}
        }
      }
    });
  }

  function start() {
    var canvases = document.querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i += 1) {
      draw(canvases[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
