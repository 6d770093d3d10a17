// Desk scan page: select the accepted card number for copying; the next scan (digits
// typed by a keyboard-wedge scanner) goes back into the scan field by itself.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var card = document.getElementById("scan-card");
  var input = document.querySelector(".scan-input");
  if (card) {
    card.focus();
    card.select();
    card.addEventListener("keydown", function (event) {
      if (input && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
        input.value = "";
        input.focus();
      }
    });
  }
});
