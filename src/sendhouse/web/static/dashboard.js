/* Sendhouse dashboard: dates in the viewer's time zone, the browser's zone in schedule forms,
   confirmations on dangerous buttons, tables that scroll sideways reachable from the keyboard,
   the menu folded on a phone, a segment builder (and the automation branches' conditions) that
   offers only the comparisons a field's type allows, and polls that stop once the page is left.
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

  /* Segment builder: a known field sets its type; only the comparisons of that type are offered;
     one empty condition is shown at a time, with a button for the next. */
  function fieldType(input) {
    var option = input.list && [].find.call(input.list.options, function (o) { return o.value === input.value; });
    return option ? option.getAttribute("data-type") : null;
  }

  function fitOperators(row) {  /* a segment row names its parts field_N…; a branch's sN_bM_field… */
    var type = row.querySelector("select[name^=fieldType_], select[name$=_fieldType]");
    var operator = row.querySelector("select[name^=operator_], select[name$=_operator]");
    var known = fieldType(row.querySelector("input[name^=field_], input[name$=_field]"));
    if (known) { type.value = known; }
    type.disabled = !!known;
    var first = null;
    [].forEach.call(operator.options, function (o) {
      var fits = o.getAttribute("data-types").split(" ").indexOf(type.value) >= 0;
      o.hidden = o.disabled = !fits;
      if (fits && !first) { first = o; }
    });
    if (operator.selectedOptions[0] && operator.selectedOptions[0].disabled && first) { operator.value = first.value; }
  }

  function builder(form) {
    var rows = [].slice.call(form.querySelectorAll("[data-condition]"));
    if (!rows.length || form.dataset.built) { return; }
    form.dataset.built = "1";
    rows.forEach(function (row) {
      fitOperators(row);
      row.addEventListener("input", function () { fitOperators(row); });
      row.addEventListener("change", function () { fitOperators(row); });
    });
    var empty = rows.filter(function (r) { return !r.querySelector("input[name^=field_]").value; });
    empty.slice(1).forEach(function (r) { r.hidden = true; });
    if (empty.length > 1) {
      var more = document.createElement("button");
      more.type = "button"; more.textContent = "Add a condition";
      more.addEventListener("click", function () {
        var next = rows.filter(function (r) { return r.hidden; })[0];
        if (next) { next.hidden = false; next.querySelector("input").focus(); }
        if (!rows.some(function (r) { return r.hidden; })) { more.remove(); }
      });
      rows[rows.length - 1].after(more);
    }
    form.addEventListener("submit", function () {  /* a disabled type is not posted: the server knows it */
      form.querySelectorAll("select[name^=fieldType_]").forEach(function (s) { s.disabled = false; });
    });
  }

  function branchConditions(root) {
    root.querySelectorAll("[data-branch-condition]").forEach(function (row) {
      fitOperators(row);
      row.addEventListener("input", function () { fitOperators(row); });
      row.addEventListener("change", function () { fitOperators(row); });
    });
  }

  document.addEventListener("submit", function (event) {  /* the button's own question, else the form's */
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);
  document.addEventListener("DOMContentLoaded", function () {
    menu(); localise(document); scrollable();
    document.querySelectorAll("form").forEach(builder);
    branchConditions(document);
  });
  document.addEventListener("submit", function (event) {
    event.target.querySelectorAll("select[name$=_fieldType]").forEach(function (s) { s.disabled = false; });
  });
  wide.addEventListener("change", menu);
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target.parentNode || document); scrollable(); });
  /* Once the browser leaves the page (a form posted, a link followed), a poll of the old page must
     not act: its answer could reload the old page over the navigation and show it without the
     message the action left for the next page. */
  var leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });
  ["htmx:beforeRequest", "htmx:beforeOnLoad"].forEach(function (name) {
    document.addEventListener(name, function (event) { if (leaving) { event.preventDefault(); } });
  });
  window.addEventListener("resize", scrollable);
})();
