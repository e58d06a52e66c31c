// Compliance list: the level filter offers the levels of the chosen criteria set only.
// The levels of every set come in a JSON block of the page; choosing another set swaps the options.
(function () {
  "use strict";
  var setSelect = document.getElementById("compliance-set");
  var levelSelect = document.getElementById("compliance-level");
  var data = document.getElementById("compliance-levels");
  if (!setSelect || !levelSelect || !data) { return; }
  var levels = JSON.parse(data.textContent || "{}");

  function option(value, label) {
    var element = document.createElement("option");
    element.value = value;
    element.textContent = label;
    return element;
  }

  setSelect.addEventListener("change", function () {
    var chosen = setSelect.value;
    var keep = levelSelect.value === "none" ? "none" : "";
    while (levelSelect.firstChild) { levelSelect.removeChild(levelSelect.firstChild); }
    levelSelect.appendChild(option("", chosen ? levelSelect.dataset.all : levelSelect.dataset.choose));
    levelSelect.appendChild(option("none", levelSelect.dataset.none));
    (levels[chosen] || []).forEach(function (pair) { levelSelect.appendChild(option(pair[0], pair[1])); });
    levelSelect.value = keep;
  });
}());
