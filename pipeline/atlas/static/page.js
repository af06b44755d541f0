"use strict";
// An entry's page: the map of its inverse set (every sample of every band, one projection)
// on a canvas, with the image and activation on hover and the full image on click.
(function () {
  var cells = window.AtlasCells;
  var data = cells.data;
  var canvas = document.getElementById("map");
  var tipBox = document.getElementById("tip");
  var points = [];  // [x px, y px, band, i]
  var R = 3;

  function layout() {
    var width = Math.min(canvas.parentElement.clientWidth, 720);
    var height = Math.round(width * 0.75);
    var ratio = window.devicePixelRatio || 1;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx: ctx, width: width, height: height };
  }

  function draw() {
    var box = layout();
    var pad = 2 * R, w = box.width - 2 * pad, h = box.height - 2 * pad;
    var side = Math.min(w, h), left = pad + (w - side) / 2, top = pad + (h - side) / 2;
    points = [];
    box.ctx.clearRect(0, 0, box.width, box.height);
    for (var b = data.bands.length - 1; b >= 0; b--) {  // the highest band drawn last
      var band = data.bands[b];
      box.ctx.fillStyle = band.color;
      for (var i = 0; i < band.n; i++) {
        if (band.x[i] === null) { continue; }
        var x = left + band.x[i] * side, y = top + (1 - band.y[i]) * side;
        box.ctx.beginPath();
        box.ctx.arc(x, y, R, 0, 2 * Math.PI);
        box.ctx.fill();
        points.push([x, y, band, i]);
      }
    }
    document.body.dataset.points = String(points.length);
  }

  function nearest(ev) {
    var rect = canvas.getBoundingClientRect();
    var x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    var best = null, bestD = 64;  // within 8 px
    for (var k = points.length - 1; k >= 0; k--) {  // topmost first
      var dx = points[k][0] - x, dy = points[k][1] - y, d = dx * dx + dy * dy;
      if (d < bestD) { best = points[k]; bestD = d; }
    }
    return best;
  }

  function hover(ev) {
    var p = nearest(ev);
    if (!p) { tipBox.hidden = true; return; }
    var px = data.thumb;
    var cell = tipBox.querySelector(".cell");
    cell.style.width = cell.style.height = px + "px";
    cells.place(cell, p[2], p[3], px);
    tipBox.querySelector("p").textContent = p[2].band + " \u00b7 " + cells.tip(p[2], p[3]);
    tipBox.style.left = Math.min(p[0] + 12, canvas.clientWidth - 180) + "px";
    tipBox.style.top = (p[1] + 12) + "px";
    tipBox.hidden = false;
  }

  if (canvas) {
    draw();
    canvas.addEventListener("mousemove", hover);
    canvas.addEventListener("mouseleave", function () { tipBox.hidden = true; });
    canvas.addEventListener("click", function (ev) {
      var p = nearest(ev);
      if (p) { ev.stopPropagation(); cells.zoom(p[2], p[3]); }
    });
    window.addEventListener("resize", draw);
  }
  document.body.dataset.cells = String(document.querySelectorAll(".cell[data-i]").length);
  cells.loadSheets(data.bands);
})();
