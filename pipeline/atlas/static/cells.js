"use strict";
// Shared by the entry and band pages: thumbnails as cells of a band's sprite sheet
// (window.ENTRY, from data/entries/<entry>.js) and the full-image overlay on click.
// Text goes into the DOM through textContent and attributes only, never as HTML.
window.AtlasCells = (function () {
  var data = window.ENTRY;
  var byJob = {};
  data.bands.forEach(function (band) { byJob[band.job] = band; });

  function place(el, band, i, px) {
    var col = i % band.cols, row = Math.floor(i / band.cols);
    el.style.backgroundImage = "url(\"" + band.sheet + "\")";
    el.style.backgroundSize = (band.cols * px) + "px auto";
    el.style.backgroundPosition = (-col * px) + "px " + (-row * px) + "px";
  }

  function tip(band, i) {
    var acts = band.act[i];
    return (acts.length === 1 ? "activation " : "activations ") + acts.join(", ") +
      " | sample " + band.sample[i] + " | " + band.phase[i] + " step " + band.step[i] +
      " | chain " + band.chain[i];
  }

  function make(band, i, px) {
    var el = document.createElement("span");
    el.className = "cell";
    el.setAttribute("role", "img");
    el.tabIndex = 0;
    el.dataset.i = String(i);
    el.title = tip(band, i);
    el.setAttribute("aria-label", el.title);
    place(el, band, i, px);
    return el;
  }

  function zoom(band, i) {
    var box = document.getElementById("zoom");
    var big = box.querySelector(".big");
    var px = band.cell * Math.max(1, Math.floor(Math.min(320, innerWidth - 48) / band.cell));
    big.style.width = big.style.height = px + "px";
    place(big, band, i, px);
    box.querySelector("p").textContent = band.band + " \u00b7 " + tip(band, i);
    box.hidden = false;
    document.body.dataset.zoomed = band.job + ":" + i;
  }

  function loadSheets(bands) {
    return Promise.all(bands.map(function (band) {
      return new Promise(function (done) {
        var img = new Image();
        img.onload = function () { done(img.naturalWidth > 0); };
        img.onerror = function () { done(false); };
        img.src = band.sheet;
      });
    })).then(function (ok) {
      document.body.dataset.images = String(ok.length);
      document.body.dataset.loaded = String(ok.filter(Boolean).length);
    });
  }

  function onActivate(ev) {
    var box = document.getElementById("zoom");
    if (!box.hidden) {
      if (ev.type === "click" || ev.key === "Escape") { box.hidden = true; }
      return;
    }
    var el = ev.target.closest ? ev.target.closest(".cell[data-i]") : null;
    var owner = el ? el.closest("[data-job]") : null;
    if (!owner || (ev.type === "keydown" && ev.key !== "Enter")) { return; }
    zoom(byJob[owner.dataset.job], Number(el.dataset.i));
  }
  document.addEventListener("click", onActivate);
  document.addEventListener("keydown", onActivate);

  return { data: data, byJob: byJob, place: place, tip: tip, make: make, zoom: zoom,
           loadSheets: loadSheets };
})();
