// Copy buttons (device token page): <button data-bo-copy="#element" data-bo-copied="Copied"> copies the element's
// text. Attached here, not with inline handlers, which the CSP blocks. The Clipboard API needs a secure context
// (HTTPS or localhost); elsewhere the text is selected and copied with execCommand, and stays selected for Ctrl+C.
(function () {
  "use strict";
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function done(button) {
    var label = button.getAttribute("data-bo-label") || button.textContent;
    button.setAttribute("data-bo-label", label);
    button.textContent = button.getAttribute("data-bo-copied") || label;
    button.classList.add("btn-success");
    window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove("btn-success");
    }, 2000);
  }
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-bo-copy]") : null;
    if (!button) { return; }
    var element = document.querySelector(button.getAttribute("data-bo-copy"));
    if (!element) { return; }
    var text = element.textContent.trim();
    function fallback() {
      selectText(element);
      try {
        if (document.execCommand("copy")) { done(button); }
      } catch (err) {
        // Left selected: the person copies it with Ctrl+C.
      }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(button); }, fallback);
      return;
    }
    fallback();
  });
})();
