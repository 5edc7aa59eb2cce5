// The studio's diff page: draws the newer version's diagram (bpmn-js viewer) and marks the elements
// the comparison found added (green) or changed (amber). The ids come from the page (#diff-markers).
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  var data = document.getElementById("diff-markers");
  if (!box || !data || !window.BpmnJS) { return; }
  var markers = JSON.parse(data.textContent);
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
        mark(markers.added || [], "cf-added");
        mark(markers.changed || [], "cf-changed");
        canvas.zoom("fit-viewport");
        var focus = (markers.changed || []).concat(markers.added || []).filter(function (id) { return registry.get(id); })[0];
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
