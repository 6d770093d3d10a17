/* Library card page: count down, and fetch the next barcode when the code changes.
 * Loaded as a file (the CSP allows no inline script); the page works without it. */
(function () {
  "use strict";
  var root = document.getElementById("card-code");
  if (!root || !window.fetch || !window.DOMParser) {
    return;
  }
  var url = root.getAttribute("data-refresh-url");
  var seconds = document.getElementById("card-seconds");
  var bars = document.getElementById("card-bars");
  var figure = root.querySelector("figure");
  var label = figure ? figure.getAttribute("aria-label") || "" : "";
  var labelPrefix = label.replace(/[0-9]+$/, "");
  var busy = false;
  var deadline = 0;

  /* Times come from the server ("seconds_left"), so a phone whose clock is off still
   * changes codes on time. A little after the change, the server has the next code;
   * the desk still accepts the previous one meanwhile. */
  function schedule(secondsLeft) {
    deadline = Date.now() + secondsLeft * 1000 + 300;
  }

  function show(data) {
    var parsed = new DOMParser().parseFromString(data.svg, "image/svg+xml");
    var svg = document.importNode(parsed.documentElement, true);
    while (bars.firstChild) {
      bars.removeChild(bars.firstChild);
    }
    bars.appendChild(svg);
    if (figure) {
      figure.setAttribute("aria-label", labelPrefix + data.barcode);
    }
    schedule(data.seconds_left);
  }

  function fetchNext() {
    busy = true;
    fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          /* Signed out, login too old, or the card stopped: the page says what to do. */
          window.location.reload();
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        busy = false;
        if (data) {
          show(data);
          tick();
        }
      })
      .catch(function () {
        busy = false;
        schedule(2); /* offline for a moment: try again shortly */
      });
  }

  function tick() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    seconds.textContent = String(left);
    if (left === 0 && !busy) {
      fetchNext();
    }
  }

  schedule(parseInt(root.getAttribute("data-seconds-left"), 10) || 0);
  window.setInterval(tick, 250);
  document.addEventListener("visibilitychange", tick);
})();
