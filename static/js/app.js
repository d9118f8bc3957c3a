// Shared page behaviour. htmx itself comes from django-htmx ({% htmx_script %}).
(function () {
  "use strict";

  // htmx leaves the page unchanged when a request fails; say so instead of failing silently.
  function showRequestError(message) {
    var banner = document.getElementById("request-error");
    if (!banner) return;
    banner.textContent = message;
    banner.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (event) {
    showRequestError("The server could not complete that request (HTTP " + event.detail.xhr.status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showRequestError("The server could not be reached. Check your connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var banner = document.getElementById("request-error");
    if (banner) banner.hidden = true;
  });
})();
