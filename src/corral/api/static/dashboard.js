// corral dashboard: re-fetch the live fragment every few seconds (the page works without this).
(function () {
  "use strict";
  var region = document.querySelector("[data-refresh-url]");
  if (!region || !window.fetch) { return; }
  var url = region.getAttribute("data-refresh-url");
  var every = (parseInt(region.getAttribute("data-refresh-seconds"), 10) || 10) * 1000;
  var status = document.getElementById("refresh-status");

  function note(text) { if (status) { status.textContent = text; } }
  function later() { window.setTimeout(tick, every); }

  function tick() {
    if (document.hidden) { later(); return; }  // no work for a tab nobody looks at
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          window.location.reload();  // signed out or token revoked: show the sign-in form
          throw new Error("signed out");
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        region.innerHTML = html;  // server-rendered and escaped by corral
        region.setAttribute("data-refreshed", String(Date.now()));
        note("Figures as of " + new Date().toLocaleTimeString() + ".");
        later();
      })
      .catch(function (err) {
        if (err.message !== "signed out") { note("Refresh failed (" + err.message + "); retrying."); later(); }
      });
  }
  later();
}());
