// Behaviour Flask-Admin's templates attach with inline handlers, which our CSP blocks (no 'unsafe-inline'):
// bulk actions (data-bo-action) and confirmations (data-bo-confirm). Loaded with the page's CSP nonce on every
// admin page (bo_master.html).
(function () {
  "use strict";
  // Loaded by both the actions menu and the filter menu: bind once, or confirmations would ask twice.
  if (window.boAdminBound) { return; }
  window.boAdminBound = true;
  // Flask-Admin's dropdown toggles (menu, filters, bulk actions, export) are <a href="javascript:void(0)">, and its
  // multi-level dropdown script stops the click before Bootstrap can prevent the navigation: the CSP then blocks
  // and reports a javascript: URL on every menu click. Prevent it first, in the capture phase.
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[href^='javascript:']") : null;
    if (link) { event.preventDefault(); }
  }, true);
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
