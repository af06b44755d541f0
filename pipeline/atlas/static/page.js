"use strict";
// Marks how many of the page's images loaded (for checks in a headless browser).
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.dataset.images = String(images.length);
  document.body.dataset.loaded = String(images.filter(function (img) {
    return img.complete && img.naturalWidth > 0;
  }).length);
});
