/* Sortable tables without a server: each column heading becomes a button (so a keyboard reaches it);
   pressing it sorts the rows by that column, pressing again reverses. Cells may give their sort key in
   data-sort; empty cells always go last. medperf-git's own small script, shipped with the package. */
(function () {
  "use strict";
  function keyOf(cell, numeric) {
    if (!cell) return null;
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "") return null;
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw.toLowerCase();
  }
  function sortBy(table, column, numeric, th, live) {
    var direction = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = keyOf(a.cells[column], numeric), y = keyOf(b.cells[column], numeric);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return direction === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    if (live) live.textContent = "Sorted by " + th.textContent.trim() + ", " + direction + ".";
  }
  function setUp(table) {
    if (!table.tHead || !table.tBodies.length) return;
    var live = document.createElement("p");
    live.className = "muted";
    live.setAttribute("aria-live", "polite");
    table.parentNode.insertBefore(live, table.nextSibling);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      var numeric = th.getAttribute("data-type") === "number";
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, column, numeric, th, live); });
    });
  }
  function start() { Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), setUp); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
