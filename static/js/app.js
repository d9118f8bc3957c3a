// Shared page behaviour, all of it optional: every page works without JavaScript.
// htmx itself comes from django-htmx ({% htmx_script %}).
(function () {
  "use strict";

  // Elements marked .js-only (copy and pick buttons) show only when this script runs.
  document.documentElement.classList.add("js");

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  // --- Failed htmx requests: say so instead of failing silently. -----------------------------

  function showRequestError(message) {
    var banner = document.getElementById("request-error");
    if (!banner) return;
    banner.textContent = message;
    banner.hidden = false;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    // A boosted page that answers 403/404 is a page to show (e.g. "you cannot open the wizard").
    var status = event.detail.xhr.status;
    if (event.detail.boosted && (status === 403 || status === 404 || status === 410)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    // 422: the form comes back with what was typed and what is wrong with it: show it.
    if (status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
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

  // A region that changed state says so to screen readers (once per new state).
  var lastAnnounced = "";
  document.addEventListener("htmx:afterSwap", function (event) {
    var root = event.detail.elt;
    var source = root && root.matches && root.matches("[data-announce]") ? root : document.querySelector("#result[data-announce]");
    if (!source) return;
    var text = source.getAttribute("data-announce");
    if (text && text !== lastAnnounced) {
      lastAnnounced = text;
      announce(text);
    }
  });

  // --- Copy buttons: the value stays selectable text without JavaScript. -----------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (development): the old way.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    copyText(text).then(function () {
      button.classList.add("copied");
      button.textContent = "Copied";
      announce("Copied " + text);
      window.setTimeout(function () {
        button.classList.remove("copied");
        button.textContent = "Copy";
      }, 2000);
    });
  });

  // --- The entity picker fills the Entity ID field and chooses Entity-level. --------------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-pick-entity]");
    if (!button) return;
    event.preventDefault();
    var form = button.closest("form");
    var field = form && form.querySelector("[name=entity_id]");
    if (!field) return;
    field.value = button.getAttribute("data-pick-entity");
    var entityLevel = form.querySelector("input[name=integration_type][value=entity_level]");
    if (entityLevel) entityLevel.checked = true;
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
    announce("Entity " + field.value + " chosen.");
  });

  // --- Checklist ticks are remembered in this browser only. -------------------------------------

  function rememberKey(box) {
    return "checklist:" + window.location.pathname + ":" + box.getAttribute("data-remember");
  }

  function restoreTicks(root) {
    var boxes = (root || document).querySelectorAll("input[data-remember]");
    boxes.forEach(function (box) {
      try {
        box.checked = window.localStorage.getItem(rememberKey(box)) === "1";
      } catch (error) { /* storage unavailable: ticks last for the page only */ }
    });
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-remember]")) return;
    try {
      window.localStorage.setItem(rememberKey(box), box.checked ? "1" : "0");
    } catch (error) { /* see above */ }
  });

  document.addEventListener("DOMContentLoaded", function () { restoreTicks(document); });
  document.addEventListener("htmx:load", function (event) { restoreTicks(event.detail.elt); });

  // --- Step 7: the test uses the saved credentials. -------------------------------------------
  // While a credentials field differs from what the page was served with (what is saved), or the
  // page shows a save that was refused, the test button waits for the save and a note says why.
  // Worked out from the fields each time: boosted navigation keeps this script's state alive.
  function credentialsUnsaved() {
    var form = document.querySelector(".credentials-form");
    if (!form) return false;
    if (form.querySelector("#form-errors")) return true;
    return Array.prototype.some.call(form.elements, function (field) {
      if (field.type === "radio" || field.type === "checkbox") return field.checked !== field.defaultChecked;
      if (field.type === "hidden" || field.type === "submit" || field.type === "button") return false;
      if (field.tagName === "SELECT") {
        return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return typeof field.value === "string" && field.value !== field.defaultValue;
    });
  }

  function holdTestForSave() {
    var unsaved = credentialsUnsaved();
    var note = document.getElementById("unsaved-credentials");
    if (note) note.hidden = !unsaved;
    var button = document.querySelector("#result .result-header button[type=submit]");
    if (button && unsaved) button.disabled = true;
    if (button && !unsaved && button.hasAttribute("data-held")) button.disabled = false;
    if (button) button.toggleAttribute("data-held", unsaved);
  }

  document.addEventListener("input", holdTestForSave);
  document.addEventListener("change", holdTestForSave);
  document.addEventListener("htmx:afterSwap", holdTestForSave);
  document.addEventListener("DOMContentLoaded", holdTestForSave);
})();
