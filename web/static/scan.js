// The scan page: each code the scanner types (then Enter) is sent in the background and
// answered on the page at once; the field keeps the focus for the next one. Codes typed
// while one is being sent wait their turn. Without this script the form posts as usual.
(function () {
  "use strict";

  var MAX_LOG = 20;

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-scan]");
    if (!form || !window.fetch || !window.URLSearchParams) return;
    var field = form.querySelector("input[name=code]");
    var queue = [];
    var busy = false;

    function keepFocus() {
      if (document.activeElement !== field) field.focus({ preventScroll: true });
    }

    function swap(html) {
      var template = document.createElement("template");
      template.innerHTML = html;
      var parts = template.content;
      ["scan-answer", "scan-counts"].forEach(function (id) {
        var part = parts.querySelector("[data-part=" + id + "]");
        if (part) document.getElementById(id).innerHTML = part.innerHTML;
      });
      var item = parts.querySelector("[data-part=scan-log] li");
      if (item) {
        var log = document.getElementById("scan-log");
        log.insertBefore(item, log.firstChild);
        while (log.children.length > MAX_LOG) log.removeChild(log.lastChild);
        var empty = document.getElementById("scan-empty");
        if (empty) empty.remove();
      }
    }

    // Anything but an answer (the session ended, the database is away): the page itself
    // posts the code, and the service answers it as a page.
    function postThePlainWay(code) {
      field.value = code;
      form.dataset.plain = "1";
      form.submit();
    }

    function next() {
      if (busy || queue.length === 0) return;
      busy = true;
      var code = queue.shift();
      var body = new URLSearchParams(new FormData(form));
      body.set("code", code);
      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-Fleetsvc-Fragment": "scan" },
      })
        .then(function (response) {
          if (response.headers.get("X-Fleetsvc-Fragment") !== "scan") {
            throw new Error("not an answer");
          }
          return response.text();
        })
        .then(function (html) {
          swap(html);
          busy = false;
          next();
        })
        .catch(function () {
          queue = [];
          postThePlainWay(code);
        });
    }

    form.addEventListener("submit", function (event) {
      if (form.dataset.plain === "1") return;
      event.preventDefault();
      event.stopImmediatePropagation();
      var code = field.value;
      field.value = "";
      keepFocus();
      if (code.trim() === "" && queue.length === 0 && !busy) {
        queue.push(code); // the service says what is wrong with an empty scan
      } else if (code.trim() !== "") {
        queue.push(code);
      }
      next();
    }, true);

    // A click on the page's background (not on a link, button or other field) puts the
    // focus back in the scan field, ready for the next scan.
    document.addEventListener("click", function (event) {
      if (!event.target.closest("a, button, input, select, textarea, label, summary")) {
        keepFocus();
      }
    });
    window.addEventListener("focus", keepFocus);
    keepFocus();
  });
})();
