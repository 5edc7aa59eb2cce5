// Asks before a destructive submit: a form or a button with data-confirm="question" is sent only if the
// person confirms. It replaces the inline onsubmit handlers that the Content-Security-Policy forbids
// (script only from files of this site, docs/adr/0018).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.dataset && button.dataset.confirm) || (form.dataset && form.dataset.confirm);
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
