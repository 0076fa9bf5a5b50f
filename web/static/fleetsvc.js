// fleetsvc pages: a little behaviour of our own. Every page works without it.
(function () {
  "use strict";

  // A form that does something hard to undo asks first (data-confirm holds the question).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // A second click on a submit button while its form is being sent does nothing.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var form = event.target;
    if (form.dataset.sending === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
  });

  // Back to a page kept by the browser: its forms may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sending]").forEach(function (form) {
      delete form.dataset.sending;
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    // An error summary takes the focus, so a keyboard or screen-reader user hears it first.
    // It goes to the top of the window, so the fields it names show below it.
    var summary = document.querySelector("[data-autofocus]");
    if (summary) {
      summary.focus({ preventScroll: true });
      summary.scrollIntoView({ block: "start" });
    }

    // "Copy" buttons beside a value shown once (a new API token).
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      });
    });
  });
})();
