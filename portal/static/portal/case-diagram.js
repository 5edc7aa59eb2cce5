// Draws the case's BPMN diagram (bpmn-js viewer) and marks done, open and overdue tasks.
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box || !window.BpmnJS) { return; }
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (state) {
      box.innerHTML = "";
      var viewer = new window.BpmnJS({ container: box });
      return viewer.importXML(state.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        function mark(ids, cls) {
          ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, cls); } });
        }
        mark(state.completed, "cf-done");
        mark(state.active, "cf-active");
        mark(state.overdue, "cf-overdue");
        canvas.zoom("fit-viewport");
        // On a phone the whole diagram is too small to read: show the open task (or, when nothing is
        // open, the last step done) at a readable size.
        var focus = state.overdue[0] || state.active[0] || state.latest;
        if (box.clientWidth < 600 && focus && registry.get(focus)) {
          canvas.zoom(0.9);
          canvas.scrollToElement(registry.get(focus));
        }
        box.dataset.ready = "true";
      });
    })
    .catch(function (err) {
      box.dataset.ready = "error";
      box.textContent = box.dataset.error || ("diagram unavailable (" + err.message + ")");
    });
})();
