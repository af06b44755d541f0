"use strict";
// A band's page: all its samples, added a page at a time as the reader scrolls, in the
// chosen order (most diverse first, activation, chain). The order lives in the URL's #.
(function () {
  var cells = window.AtlasCells;
  var band = cells.byJob[document.body.dataset.job];
  var PAGE = 120;
  var box = document.getElementById("cells");
  var select = document.getElementById("order");
  var button = document.getElementById("more");
  var end = document.getElementById("end");
  var count = document.getElementById("count");
  var order = [], shown = 0;

  function byAct(sign) {
    return function (a, b) { return sign * (band.act[a][0] - band.act[b][0]) || a - b; };
  }

  function ordering(name) {
    var idx = band.sample.map(function (_, i) { return i; });
    if (name === "act-desc") { return idx.sort(byAct(-1)); }
    if (name === "act-asc") { return idx.sort(byAct(1)); }
    if (name === "chain") {
      return idx.sort(function (a, b) {
        return band.chain[a] - band.chain[b] || band.step[a] - band.step[b] || a - b;
      });
    }
    return band.diverse.slice();
  }

  function more() {
    var next = order.slice(shown, shown + PAGE);
    var fragment = document.createDocumentFragment();
    next.forEach(function (i) { fragment.appendChild(cells.make(band, i, cells.data.thumb)); });
    box.appendChild(fragment);
    shown += next.length;
    count.textContent = shown + " of " + order.length + " shown";
    button.hidden = shown >= order.length;
    document.body.dataset.shown = String(shown);
    requestAnimationFrame(check);  // still room on screen: fill it
  }

  function check() {
    if (shown < order.length && end.getBoundingClientRect().top < innerHeight + 300) { more(); }
  }

  function reset() {
    var name = select.value;
    order = ordering(name);
    shown = 0;
    box.replaceChildren();
    history.replaceState(null, "", "#order=" + name);
    document.body.dataset.order = name;
    more();
  }

  var wanted = new URLSearchParams(location.hash.slice(1)).get("order");
  if (wanted && select.querySelector("option[value=\"" + CSS.escape(wanted) + "\"]")) {
    select.value = wanted;
  }
  select.addEventListener("change", reset);
  button.addEventListener("click", more);
  window.addEventListener("scroll", check, { passive: true });
  window.addEventListener("resize", check);
  reset();
  cells.loadSheets([band]);
})();
