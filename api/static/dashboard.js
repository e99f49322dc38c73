/* The dashboard's charts (Chart.js, served by Sojourn). The numbers come from the
   page's own JSON, the same the tables show. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("charts").textContent);
  var percent = function (v) { return v === null ? null : Math.round(v * 1000) / 10; };

  new Chart(document.getElementById("funnel"), {
    type: "bar",
    data: {labels: data.funnel.map(function (s) { return s.stage; }),
           datasets: [{label: "customers", data: data.funnel.map(function (s) { return s.count; }),
                       backgroundColor: "#4a6fa5"}]},
    options: {indexAxis: "y", animation: false, plugins: {legend: {display: false}}}
  });

  new Chart(document.getElementById("over-time"), {
    type: "line",
    data: {labels: data.over_time.map(function (d) { return d.day; }),
           datasets: [{label: "entries", data: data.over_time.map(function (d) { return d.entries; }), borderColor: "#4a6fa5"},
                      {label: "conversions", data: data.over_time.map(function (d) { return d.conversions; }), borderColor: "#c0504d"}]},
    options: {animation: false}
  });

  // Variants side by side: each KPI's rate, with its interval in the tooltip.
  data.variants.forEach(function (experiment) {
    var canvas = document.querySelector('canvas.variants-chart[data-experiment="' + CSS.escape(experiment.experiment) + '"]');
    if (!canvas || !experiment.variants.length) return;
    var kpis = experiment.variants[0].kpis.map(function (k) { return k.kpi; });
    new Chart(canvas, {
      type: "bar",
      data: {labels: kpis, datasets: experiment.variants.map(function (v) {
        return {label: v.variant, data: v.kpis.map(function (k) { return percent(k.rate); }),
                intervals: v.kpis.map(function (k) { return k.interval; })};
      })},
      options: {animation: false, scales: {y: {title: {display: true, text: "rate (%)"}}},
                plugins: {tooltip: {callbacks: {afterLabel: function (item) {
                  var i = item.dataset.intervals[item.dataIndex];
                  return i ? "95%: " + percent(i[0]) + "% to " + percent(i[1]) + "%" : "";
                }}}}}
    });
  });
  document.body.setAttribute("data-charts", "drawn");
})();
