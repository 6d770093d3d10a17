/* Passkeys (WebAuthn): sign in with one on the login page, add one on the account page.
 * A form.passkey-form names its options URL in data-options-url and the ceremony in
 * data-passkey-mode ("create" or "get"); the browser's answer goes back in the form's
 * hidden "credential" field as JSON (base64url for binary values). Loaded as a file
 * (the CSP allows no inline script). */
(function () {
  "use strict";
  var creationOptions = window.WebAuthnJSON.creationOptions;
  var requestOptions = window.WebAuthnJSON.requestOptions;
  var answer = window.WebAuthnJSON.answer;
  function start(form) {
    var error = form.querySelector(".passkey-error");
    var create = form.getAttribute("data-passkey-mode") === "create";
    var name = form.querySelector("input[name=name]");
    if (create && name && !name.value.trim()) { name.focus(); return; }
    var token = form.querySelector("input[name=csrf_token]").value;
    fetch(form.getAttribute("data-options-url"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": token }
    }).then(function (reply) {
      if (!reply.ok) { throw new Error("options"); }
      return reply.json();
    }).then(function (options) {
      return create
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
    }).then(function (credential) {
      form.querySelector("input[name=credential]").value = answer(credential);
      form.submit();
    }).catch(function () {
      if (error) { error.hidden = false; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.passkey-form").forEach(function (form) {
      var button = form.querySelector(".passkey-start");
      if (!window.PublicKeyCredential || !window.fetch) {
        form.hidden = true;
        return;
      }
      form.hidden = false;
      button.addEventListener("click", function () { start(form); });
    });
  });
})();
