// List fields (budget lines, needs, plan rows): a button that adds one more blank row, so a person
// with more lines than the blank rows shown need not save a draft first. Without script the page
// still works: the blank rows are there and a draft brings more.
(function () {
  "use strict";
  document.querySelectorAll(".field table.rows").forEach(function (table) {
    var body = table.tBodies[0];
    if (!body || !body.rows.length) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "add-row";
    button.textContent = table.dataset.addLabel || "+";
    button.addEventListener("click", function () {
      var last = body.rows[body.rows.length - 1];
      var row = last.cloneNode(true);
      var index = body.rows.length;
      row.querySelectorAll("input, select").forEach(function (control) {
        control.name = control.name.replace(/-(\d+)-([a-z][a-z0-9_]*)$/, "-" + index + "-$2");
        if (control.tagName === "SELECT") { control.selectedIndex = 0; } else { control.value = ""; }
      });
      var number = row.querySelector(".row-no");
      if (number) { number.textContent = String(index + 1); }
      body.appendChild(row);
      var first = row.querySelector("input, select");
      if (first) { first.focus(); }
    });
    table.parentNode.insertAdjacentElement("afterend", button);
  });
})();
