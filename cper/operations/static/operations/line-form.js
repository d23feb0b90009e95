/* The financing line form's defaults when JavaScript runs (the service applies the same ones
   without it): choosing a partner preselects its budget nature (AE/CP for the State, AP/CP for
   local authorities, as the contract file says), unless the user chose one; "contractualisé"
   is offered only for a contract partner's line. */
(function () {
  "use strict";
  var partner = document.querySelector("select[data-budget-natures]");
  var kind = document.querySelector("[data-line-kind]");
  var nature = document.querySelector('select[name="budget_nature"]');
  var contractualised = document.querySelector("input[data-contractualised]");
  var natures = {};
  try { natures = JSON.parse(partner ? partner.getAttribute("data-budget-natures") : "{}"); } catch (e) { natures = {}; }
  var touched = false;
  if (nature) { nature.addEventListener("change", function () { touched = true; }); }

  function group(el) { return el ? el.closest(".fr-checkbox-group, .fr-input-group, .fr-select-group") : null; }

  function update() {
    var isPartner = !kind || kind.value === "partner";
    var box = group(contractualised);
    if (box) { box.hidden = !isPartner; }
    var partnerBox = group(partner);
    if (partnerBox && !partner.disabled) { partnerBox.hidden = !isPartner; }
    if (nature && !touched && partner && isPartner && natures[partner.value]) {
      nature.value = natures[partner.value];
    }
  }
  if (partner) { partner.addEventListener("change", update); }
  if (kind) { kind.addEventListener("change", update); }
  update();
})();
