// A signature drawn with a finger on a filepicker field marked `signature`: the drawing becomes a PNG
// file in the field's own hidden file input, so it is uploaded, checked and encrypted like any photo.
// A static file, no inline script (the Content-Security-Policy allows script only from this site).
// Without script (or without DataTransfer, very old browsers) the pad stays hidden and a photo of a
// signed paper is the proof.
(function () {
  "use strict";
  if (typeof DataTransfer === "undefined" || !HTMLCanvasElement.prototype.toBlob) {
    return;
  }
  function setUp(pad) {
    var canvas = pad.querySelector("canvas");
    var input = pad.querySelector("[data-sigpad-file]");
    var state = pad.querySelector("[data-sigpad-state]");
    var context = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;
    function reset() {
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.lineWidth = 4;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#111";
      drawn = false;
      input.files = new DataTransfer().files;
      state.textContent = state.dataset.empty;
    }
    function point(event) {
      var box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
    }
    function keep() {
      canvas.toBlob(function (blob) {
        if (!blob || !drawn) {
          return;
        }
        var files = new DataTransfer();
        files.items.add(new File([blob], "signature.png", {type: "image/png"}));
        input.files = files.files;
        state.textContent = state.dataset.signed;
      }, "image/png");
    }
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      var at = point(event);
      context.beginPath();
      context.moveTo(at[0], at[1]);
      context.lineTo(at[0] + 0.1, at[1] + 0.1);
      context.stroke();
      drawn = true;
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) {
        return;
      }
      var at = point(event);
      context.lineTo(at[0], at[1]);
      context.stroke();
      event.preventDefault();
    });
    function stop() {
      if (drawing) {
        drawing = false;
        keep();
      }
    }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    pad.querySelector("[data-sigpad-clear]").addEventListener("click", reset);
    reset();
    pad.hidden = false;
  }
  document.querySelectorAll("[data-sigpad]").forEach(setUp);
})();
