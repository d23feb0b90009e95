/* The operation form's comfort when JavaScript runs (the form works without it):
   - the owner panel that is not chosen ("connu" / "nouveau") is hidden, never emptied;
   - a searched owner, chosen among the radio buttons (arrow keys move between them), fills the
     SIRET / RNA field and is named beside it; typing in that field drops the choice;
   - a searched commune, ticked, is added to the communes field (unticked, removed);
   - Down arrow in a search field goes to its first result; Enter there searches, never submits.
   The searches themselves are htmx attributes on the fields (hx-get, debounce). */
(function () {
  "use strict";
  var form = document.getElementById("operation-form");
  if (!form) { return; }

  function panels() {
    var mode = form.querySelector('input[name="owner_mode"]:checked');
    var value = mode ? mode.value : "known";
    form.querySelectorAll("[data-owner-panel]").forEach(function (panel) {
      panel.hidden = form.querySelector('input[name="owner_mode"]') !== null &&
        panel.getAttribute("data-owner-panel") !== value;
    });
  }
  form.querySelectorAll('input[name="owner_mode"]').forEach(function (radio) {
    radio.addEventListener("change", panels);
  });
  panels();

  var identifier = form.querySelector('input[name="owner_identifier"]');
  var chosen = document.getElementById("owner-chosen");
  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name === "owner_choice" && target.checked && identifier) {
      identifier.value = target.value;
      if (chosen) { chosen.textContent = "Choisi : " + (target.getAttribute("data-owner-name") || target.value); }
    }
    if (target.name === "commune_pick") {
      var field = form.querySelector('input[name="communes"]');
      if (!field) { return; }
      var items = field.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      var at = items.indexOf(target.value);
      if (target.checked && at < 0) { items.push(target.value); }
      if (!target.checked && at >= 0) { items.splice(at, 1); }
      field.value = items.join(", ");
    }
  });
  if (identifier) {
    identifier.addEventListener("input", function () {
      form.querySelectorAll('input[name="owner_choice"]').forEach(function (r) { r.checked = false; });
      if (chosen) { chosen.textContent = ""; }
    });
  }

  form.querySelectorAll('input[type="search"]').forEach(function (input) {
    input.addEventListener("keydown", function (event) {
      var results = document.getElementById(input.getAttribute("aria-controls"));
      if (event.key === "Enter") {
        event.preventDefault();
        input.dispatchEvent(new Event("search"));
      } else if (event.key === "ArrowDown" && results) {
        var first = results.querySelector("input");
        if (first) { event.preventDefault(); first.focus(); }
      }
    });
  });
})();
