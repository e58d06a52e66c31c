// Behaviour Flask-Admin's templates attach with inline handlers, which our CSP blocks (no 'unsafe-inline'):
// bulk actions (data-bo-action) and confirmations (data-bo-confirm). Loaded with the page's CSP nonce.
(function () {
  "use strict";
  // Loaded by both the actions menu and the filter menu: bind once, or confirmations would ask twice.
  if (window.boAdminBound) { return; }
  window.boAdminBound = true;
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var confirmButton = target.closest("[data-bo-confirm]");
    if (confirmButton && !window.confirm(confirmButton.getAttribute("data-bo-confirm"))) {
      event.preventDefault();
      return;
    }
    var actionLink = target.closest("[data-bo-action]");
    if (actionLink) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(actionLink.getAttribute("data-bo-action")); }
      return;
    }
    if (target.closest("a.filter")) { event.preventDefault(); }
  });
})();
