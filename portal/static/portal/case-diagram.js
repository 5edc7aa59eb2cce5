// Draws a BPMN diagram (bpmn-js viewer) and marks elements on it: a case's done, open and overdue
// tasks (from the diagram's JSON), and any classes the page names itself in #diagram-markers
// ({"cf-added": [ids], ...}, the studio's comparison of two versions).
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box || !window.BpmnJS) { return; }
  var extra = document.getElementById("diagram-markers");
  var pageMarkers = extra ? JSON.parse(extra.textContent) : {};
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (state) {
      box.innerHTML = "";
      var viewer = new window.BpmnJS({ container: box });
      return viewer.importXML(state.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        function mark(ids, cls) {
          (ids || []).forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, cls); } });
        }
        mark(state.completed, "cf-done");
        mark(state.active, "cf-active");
        mark(state.overdue, "cf-overdue");
        var marked = [];
        Object.keys(pageMarkers).forEach(function (cls) {
          mark(pageMarkers[cls], cls);
          marked = marked.concat(pageMarkers[cls] || []);
        });
        canvas.zoom("fit-viewport");
        // On a phone the whole diagram is too small to read: show the open task (or, when nothing is
        // open, the last step done, or the first element the page marked) at a readable size.
        var focus = [].concat(state.overdue || [], state.active || [], state.latest ? [state.latest] : [], marked)
          .filter(function (id) { return registry.get(id); })[0];
        if (box.clientWidth < 600 && focus) {
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
