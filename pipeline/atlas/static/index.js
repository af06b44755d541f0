"use strict";
// The atlas index: search, filter, sort and page through window.ATLAS.entries (data/atlas.js).
// Text goes into the DOM through textContent only, never as HTML.
(function () {
  var data = window.ATLAS;
  var body = document.querySelector("#entries tbody");
  var search = document.getElementById("q");
  var kind = document.getElementById("kind");
  var status = document.getElementById("status");
  var fcol = document.getElementById("fcol");
  var fop = document.getElementById("fop");
  var fval = document.getElementById("fval");
  var info = document.getElementById("pageinfo");
  var size = data.page_size;
  var state = { q: "", kind: "", status: "", fcol: "diversity", fop: "ge", fval: "",
                sort: "unit", dir: 1, page: 0 };
  var STATUSES = ["done", "partial", "infeasible", "failed"];
  var generation = 0;

  var keys = {
    label: function (e) { return e.label.toLowerCase(); },
    unit: function (e) { return [e.kind === "intersection" ? 1 : 0, e.layer, e.unit, e.name]; },
    kind: function (e) { return e.kind; },
    feasibility: function (e) { return e.feasibility; },
    samples: function (e) { return e.samples; },
    diversity: function (e) { return e.diversity; },
    status: function (e) {
      return [-e.statuses.failed, -e.statuses.infeasible, -e.statuses.partial];
    },
    rhat: function (e) { return e.rhat; },
    ess: function (e) { return e.ess; },
    evals: function (e) { return e.evals; },
    edge: function (e) { return e.edge; },
    steps: function (e) { return e.steps; },
    wall: function (e) { return e.wall; },
  };

  function compare(a, b) {
    if (Array.isArray(a)) {
      for (var i = 0; i < a.length; i++) {
        var c = compare(a[i], b[i]);
        if (c !== 0) { return c; }
      }
      return 0;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function statusOk(e) {
    if (!state.status) { return true; }
    if (state.status === "all-done") { return e.statuses.done === e.bands; }
    return e.statuses[state.status] > 0;
  }

  function valueOk(e) {
    if (state.fval === "" || isNaN(Number(state.fval))) { return true; }
    var v = e[state.fcol];
    if (v === null || v === undefined) { return false; }
    return state.fop === "le" ? v <= Number(state.fval) : v >= Number(state.fval);
  }

  function view() {
    var q = state.q.trim().toLowerCase();
    var key = keys[state.sort] || keys.unit;
    var list = data.entries.filter(function (e) {
      if (state.kind && e.kind !== state.kind) { return false; }
      if (!statusOk(e) || !valueOk(e)) { return false; }
      return !q || e.search.indexOf(q) >= 0;
    });
    return list.sort(function (a, b) {
      var ka = key(a), kb = key(b);
      if (ka === null || kb === null) { return (ka === null) - (kb === null); } // nulls last
      return state.dir * compare(ka, kb) || compare(keys.unit(a), keys.unit(b));
    });
  }

  function fixed(value, digits) { return value === null ? "-" : value.toFixed(digits); }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
  }

  function statusText(e) {
    return STATUSES.filter(function (s) { return e.statuses[s]; }).map(function (s) {
      return e.statuses[s] + " " + s;
    }).join(", ");
  }

  function entryRow(e) {
    var tr = document.createElement("tr");
    var preview = cell(tr, "");
    if (e.preview) {
      var img = document.createElement("img");
      img.src = e.preview;
      img.alt = e.label;
      img.title = e.label + " (most diverse sample of its highest band reached)";
      preview.appendChild(img);
    }
    var link = document.createElement("a");
    link.href = e.page;
    link.textContent = e.label;
    cell(tr, "").appendChild(link);
    cell(tr, e.name);
    cell(tr, e.kind);
    cell(tr, e.reached + "/" + e.bands + (e.failed ? " (" + e.failed + " failed)" : ""), "num");
    cell(tr, statusText(e), e.statuses.failed ? "status bad" : "status");
    cell(tr, String(e.samples), "num");
    cell(tr, fixed(e.diversity, 3), "num");
    cell(tr, fixed(e.rhat, 3), "num" + (e.rhat !== null && e.rhat > 1.1 ? " bad" : ""));
    cell(tr, e.ess === null ? "-" : e.ess.toFixed(0), "num");
    cell(tr, fixed(e.evals, 1), "num");
    cell(tr, fixed(e.edge, 3), "num");
    cell(tr, String(e.steps), "num");
    cell(tr, fixed(e.wall, 1), "num");
    return tr;
  }

  function markLoaded(token) {
    var images = Array.prototype.slice.call(body.querySelectorAll("img"));
    Promise.all(images.map(function (img) {
      if (img.complete) { return Promise.resolve(); }
      return new Promise(function (done) {
        img.addEventListener("load", done, { once: true });
        img.addEventListener("error", done, { once: true });
      });
    })).then(function () {
      if (token !== generation) { return; }
      var ok = images.filter(function (img) { return img.naturalWidth > 0; }).length;
      document.body.dataset.images = String(images.length);
      document.body.dataset.loaded = String(ok);
      if (!document.body.dataset.readyMs) {
        document.body.dataset.readyMs = String(Math.round(performance.now()));
      }
      document.body.dataset.ready = String(token);
    });
  }

  function render() {
    generation += 1;
    var list = view();
    var pages = Math.max(1, Math.ceil(list.length / size));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    var shown = list.slice(state.page * size, (state.page + 1) * size);
    body.replaceChildren.apply(body, shown.map(entryRow));
    info.textContent = "page " + (state.page + 1) + " of " + pages + " \u00b7 " + list.length +
      " of " + data.entries.length + " entries";
    document.querySelectorAll("th[data-sort]").forEach(function (th) {
      var on = th.dataset.sort === state.sort;
      th.setAttribute("aria-sort", on ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });
    var params = new URLSearchParams({ q: state.q, kind: state.kind, status: state.status,
                                       fcol: state.fcol, fop: state.fop, fval: state.fval,
                                       sort: state.sort, dir: String(state.dir),
                                       page: String(state.page) });
    history.replaceState(null, "", "#" + params.toString());
    document.body.dataset.rows = String(shown.length);
    document.body.dataset.matching = String(list.length);
    markLoaded(generation);
  }

  function restore() {
    var params = new URLSearchParams(location.hash.slice(1));
    state.q = params.get("q") || "";
    state.kind = params.get("kind") || "";
    state.status = params.get("status") || "";
    state.fcol = params.get("fcol") || "diversity";
    state.fop = params.get("fop") === "le" ? "le" : "ge";
    state.fval = params.get("fval") || "";
    state.sort = keys[params.get("sort")] ? params.get("sort") : "unit";
    state.dir = params.get("dir") === "-1" ? -1 : 1;
    state.page = parseInt(params.get("page") || "0", 10) || 0;
    search.value = state.q;
    kind.value = state.kind;
    status.value = state.status;
    fcol.value = state.fcol;
    fop.value = state.fop;
    fval.value = state.fval;
  }

  function onFilter(element, name) {
    element.addEventListener(element === fval ? "input" : "change", function () {
      state[name] = element.value; state.page = 0; render();
    });
  }

  search.addEventListener("input", function () { state.q = search.value; state.page = 0; render(); });
  onFilter(kind, "kind");
  onFilter(status, "status");
  onFilter(fcol, "fcol");
  onFilter(fop, "fop");
  onFilter(fval, "fval");
  document.getElementById("prev").addEventListener("click", function () {
    state.page -= 1; render();
  });
  document.getElementById("next").addEventListener("click", function () {
    state.page += 1; render();
  });
  document.querySelectorAll("th[data-sort] button").forEach(function (button) {
    button.addEventListener("click", function () {
      var sort = button.parentElement.dataset.sort;
      state.dir = sort === state.sort ? -state.dir : 1;
      state.sort = sort;
      state.page = 0;
      render();
    });
  });
  data.entries.forEach(function (e) {
    e.search = (e.label + " " + e.name + " " + e.kind).toLowerCase();
  });
  restore();
  render();
})();
