/* request-runner HTML report: filter by outcome, search by name or URL, order.
   Everything is already in the markup; this only hides and reorders rows
   (each row's id is "r" + its place in file order). */
(function () {
  "use strict";
  var list = document.getElementById("list");
  var controls = document.getElementById("controls");
  if (!list || !controls) { return; }
  var rows = Array.prototype.slice.call(list.querySelectorAll("details.r"));
  var byRun = null;
  var keys = null;
  var off = {};
  var search = document.getElementById("q");
  var order = document.getElementById("order");
  var shown = document.getElementById("shown");
  var empty = document.getElementById("none-shown");
  var timer = 0;

  function keyOf(row) {
    var s = row.firstElementChild;
    var name = s.querySelector(".n");
    var url = s.querySelector(".u");
    return ((name ? name.textContent : "") + "\n" + (url ? url.textContent : "")).toLowerCase();
  }

  function apply() {
    var q = search.value.trim().toLowerCase();
    if (q && !keys) { keys = rows.map(keyOf); }
    var n = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var visible = !off[row.getAttribute("data-o")] && (!q || keys[i].indexOf(q) !== -1);
      if (row.hidden === visible) { row.hidden = !visible; }
      if (visible) { n++; }
    }
    shown.textContent = n === rows.length ? rows.length + " requests" : n + " of " + rows.length + " requests shown";
    if (empty) { empty.hidden = n !== 0 || rows.length === 0; }
  }

  function reorder() {
    var seq = rows;
    if (order.value === "file") {
      if (!byRun) {
        byRun = rows.slice().sort(function (a, b) { return +a.id.slice(1) - +b.id.slice(1); });
      }
      seq = byRun;
    }
    var frag = document.createDocumentFragment();
    for (var i = 0; i < seq.length; i++) { frag.appendChild(seq[i]); }
    list.appendChild(frag);
  }

  Array.prototype.forEach.call(controls.querySelectorAll("button[data-o]"), function (button) {
    button.addEventListener("click", function () {
      var outcome = button.getAttribute("data-o");
      var pressed = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", pressed ? "true" : "false");
      off[outcome] = !pressed;
      apply();
    });
  });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, rows.length > 2000 ? 120 : 0);
  });
  order.addEventListener("change", reorder);

  function openFromHash() {
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (target && target.tagName === "DETAILS") { target.open = true; target.hidden = false; }
  }
  window.addEventListener("hashchange", openFromHash);

  controls.hidden = false;
  apply();
  openFromHash();
  if (window.performance && performance.mark) { performance.mark("report-ready"); }
}());
