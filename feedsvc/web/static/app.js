// feedsvc dashboard: copy buttons, revealing the secret URL on request, and "Sync now" progress.
(function () {
  "use strict";
  // Feed URLs arrive as paths; the origin is the one this browser is looking at, never the server's guess.
  document.querySelectorAll("[data-path]").forEach(function (element) {
    element.textContent = window.location.origin + element.dataset.path;
  });
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      if (navigator.clipboard) { navigator.clipboard.writeText(text); }
      button.textContent = "Copied";
    });
  });
  var reveal = document.getElementById("reveal");
  if (reveal) {
    reveal.addEventListener("click", function () {
      fetch(reveal.dataset.url, { method: "POST", headers: { "X-CSRF-Token": reveal.dataset.csrf }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) { document.getElementById("token-url").textContent = window.location.origin + data.path; reveal.hidden = true; });
    });
  }
  var form = document.getElementById("sync-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var state = document.getElementById("sync-state");
      var before = document.getElementById("etag");
      var etag = before ? before.textContent : null;
      var body = new URLSearchParams(new FormData(form));
      state.textContent = "Starting…";
      fetch(form.action, { method: "POST", body: body, headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function () {
          var tries = 0;
          var poll = function () {
            tries += 1;
            fetch("sync/status", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
              if (s.run) { state.textContent = "Sync " + s.run.status + (s.run.progress ? " (" + s.run.progress + ")" : ""); }
              if (s.etag && s.etag !== etag) { state.textContent = "New feed published."; window.location.reload(); return; }
              if (tries < 120) { window.setTimeout(poll, 1000); }
            });
          };
          window.setTimeout(poll, 1000);
        });
    });
  }
})();
