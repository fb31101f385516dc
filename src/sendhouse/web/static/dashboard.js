/* Sendhouse dashboard: dates in the viewer's time zone, the browser's zone in schedule forms,
   confirmations on dangerous buttons, tables that scroll sideways reachable from the keyboard,
   the menu folded on a phone.
   Everything works without it, only less friendly. */
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var format = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});

  function localise(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (!isNaN(at)) { el.textContent = format.format(at); el.title = el.getAttribute("datetime"); }
    });
    root.querySelectorAll("[data-browser-zone]").forEach(function (el) { el.textContent = zone; });
    root.querySelectorAll("select[data-zone-select]").forEach(function (el) {
      if (!el.dataset.touched && el.querySelector('option[value="' + zone + '"]')) { el.value = zone; }
      el.addEventListener("change", function () { el.dataset.touched = "1"; });
    });
  }

  var wide = window.matchMedia("(min-width: 800px)");
  function menu() {  /* the menu is open beside the page on a wide screen, folded on a phone */
    document.querySelectorAll("details[data-menu]").forEach(function (el) { el.open = wide.matches; });
  }

  function scrollable() {
    document.querySelectorAll(".scroll").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) {
        el.tabIndex = 0;
        el.setAttribute("role", "region");
        el.setAttribute("aria-label", "Table (scrolls sideways)");
      } else if (el.hasAttribute("tabindex")) {
        el.removeAttribute("tabindex"); el.removeAttribute("role"); el.removeAttribute("aria-label");
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);
  document.addEventListener("DOMContentLoaded", function () { menu(); localise(document); scrollable(); });
  wide.addEventListener("change", menu);
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target.parentNode || document); scrollable(); });
  window.addEventListener("resize", scrollable);
})();
