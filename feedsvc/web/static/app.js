// feedsvc dashboard: copy buttons, revealing the secret URL on request, and "Sync now" with the running run.
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
    var state = document.getElementById("sync-state");
    var button = document.getElementById("sync-now");
    var shown = document.getElementById("etag");
    var etag = shown ? shown.textContent : null;
    var describe = function (running, run) {
      var text = "Running since " + running.started + ": " + running.command + ", " + running.stage;
      if (run && run.status === "running" && run.progress) { text += " (" + run.progress + ")"; }
      return text;
    };
    // Follow the run holding the lock until it ends; then show the new feed, or say nothing changed.
    var poll = function (tries) {
      fetch("sync/status", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        if (s.running) {
          button.disabled = true;
          state.textContent = describe(s.running, s.run);
          if (tries < 3600) { window.setTimeout(function () { poll(tries + 1); }, 1000); }
          return;
        }
        button.disabled = false;
        if (s.etag && s.etag !== etag) { state.textContent = "New feed published."; window.location.reload(); return; }
        state.textContent = s.run ? "Sync " + s.run.status + "; the feed is unchanged." : "";
      });
    };
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      button.disabled = true;
      state.textContent = "Starting…";
      fetch(form.action, { method: "POST", body: body, headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.running) { state.textContent = (answer.started ? "Started. " : "Already running. ") + describe(answer.running, null); }
          poll(0);
        });
    });
    if (button.disabled) { poll(0); }
  }
})();
