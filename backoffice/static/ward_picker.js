/* The ward list follows the chosen district: each ward option names its district (data-district); only the wards
   of the chosen district are listed, in the order the server gave. Choosing a ward before a district chooses its
   district. Without a district (or without this script) every ward is listed, grouped by district, and the server
   checks the pair either way. */
(function () {
  'use strict';
  document.querySelectorAll('select[data-ward-for]').forEach(function (ward) {
    var district = document.getElementById(ward.getAttribute('data-ward-for'));
    if (!district) { return; }
    var placeholder = ward.querySelector('option[value=""]');
    var groups = Array.prototype.map.call(ward.querySelectorAll('optgroup'), function (group) {
      return {label: group.label, options: Array.prototype.slice.call(group.querySelectorAll('option'))};
    });

    function fill() {
      var code = district.value, chosen = ward.value, listed = [];
      ward.innerHTML = '';
      if (placeholder) { ward.appendChild(placeholder); }
      groups.forEach(function (group) {
        var options = group.options.filter(function (o) { return !code || o.getAttribute('data-district') === code; });
        if (!options.length) { return; }
        var parent = ward;
        if (!code) {
          parent = document.createElement('optgroup');
          parent.label = group.label;
          ward.appendChild(parent);
        }
        options.forEach(function (option) { parent.appendChild(option); listed.push(option.value); });
      });
      ward.value = listed.indexOf(chosen) >= 0 ? chosen : '';
    }

    district.addEventListener('change', fill);
    ward.addEventListener('change', function () {
      var option = ward.options[ward.selectedIndex];
      if (option && option.getAttribute('data-district') && !district.value) {
        district.value = option.getAttribute('data-district');
        fill();
      }
    });
    if (district.value) { fill(); }
  });
}());
