// Library card: count down to the end of the current code, then fetch the next one.
// A static file (no inline script), so it runs under a strict Content-Security-Policy.
(function () {
  "use strict";
  var card = document.getElementById("card");
  if (!card) { return; }
  var url = card.getAttribute("data-refresh-url");
  var left = parseInt(card.getAttribute("data-expires-in"), 10) || 0;
  var countdown = document.getElementById("countdown");
  var problem = document.getElementById("card-problem");
  var busy = false;

  function show(data) {
    document.getElementById("barcode").innerHTML = data.svg;
    document.getElementById("barcode-value").textContent = data.barcode;
    document.getElementById("card-number").textContent = data.card_number;
    left = data.expires_in;
    countdown.textContent = String(left);
    problem.hidden = true;
  }

  function refresh() {
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.message || "error"); }
          show(data);
          return null;
        });
      })
      .catch(function (error) {
        problem.textContent = error.message === "error" ? "更新できませんでした。" : error.message;
        problem.hidden = false;
        left = 5;
      })
      .then(function () { busy = false; });
  }

  window.setInterval(function () {
    if (busy) { return; }
    left -= 1;
    countdown.textContent = String(Math.max(left, 0));
    if (left <= 0) { refresh(); }
  }, 1000);
}());
