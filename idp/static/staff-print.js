// The staff console's notice page: the print button (no inline script under our CSP).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print-notice");
  if (button) {
    button.addEventListener("click", function () { window.print(); });
  }
});
