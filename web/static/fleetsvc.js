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


  // An upload larger than the service accepts is said at once, beside the field, before
  // any of it is sent (the service refuses it anyway, with the same words).
  function fileTooLarge(input) {
    var max = Number(input.getAttribute("data-max-bytes"));
    var file = input.files && input.files[0];
    var error = document.getElementById(input.id + "-error");
    var tooLarge = Boolean(file && max && file.size > max);
    if (error) {
      if (tooLarge) {
        error.querySelector("[data-file-error]").textContent = input.getAttribute("data-max-text");
        error.hidden = false;
      } else if (error.hasAttribute("data-client")) {
        error.hidden = true;
      }
      if (tooLarge) error.setAttribute("data-client", "1");
    }
    input.setAttribute("aria-invalid", tooLarge ? "true" : "false");
    return tooLarge;
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.matches && input.matches("input[type=file][data-max-bytes]")) fileTooLarge(input);
  });

  // Work that takes a while says so: the button's busy words, and (a commit) a note that the
  // page may be left. Runs after the checks above; a refused or cancelled form stays as it was.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var input = form.querySelector && form.querySelector("input[type=file][data-max-bytes]");
    if (input && fileTooLarge(input)) {
      event.preventDefault();
      delete form.dataset.sending;
      input.focus();
      return;
    }
    if (event.defaultPrevented) return;
    form.querySelectorAll("[data-busy-text]").forEach(function (button) {
      button.textContent = button.getAttribute("data-busy-text");
      button.setAttribute("aria-disabled", "true");
    });
    if (form.hasAttribute("data-committing")) {
      var note = form.parentNode.querySelector("[data-committing-note]");
      if (note) note.hidden = false;
    }
  });

  // An import still being read or applied: ask the service how far it is, and show the
  // finished page when it is done. Without this, the page's "Refresh" link does the same.
  function pollProgress(box) {
    var url = box.getAttribute("data-progress-url");
    var every = Number(box.getAttribute("data-poll-ms")) || 2000;
    var text = box.querySelector("[data-progress-text]");
    var failures = 0;
    function ask() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok || !/json/.test(response.headers.get("content-type") || "")) {
            throw new Error("no progress");
          }
          return response.json();
        })
        .then(function (progress) {
          failures = 0;
          if (text) text.textContent = progress.text;
          if (progress.in_progress) {
            window.setTimeout(ask, every);
          } else {
            window.location.reload();
          }
        })
        .catch(function () {
          failures += 1;
          if (failures < 5) window.setTimeout(ask, every * failures);
        });
    }
    window.setTimeout(ask, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(pollProgress);

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
