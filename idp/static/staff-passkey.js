// Passkeys in the staff console (WebAuthn): create one at enrolment, use it at sign-in.
// The server's options arrive as JSON in data-passkey-options; the browser's answer goes
// back as JSON in the form's hidden "credential" field (base64url for binary values).
"use strict";
(function () {
  var creationOptions = window.WebAuthnJSON.creationOptions;
  var requestOptions = window.WebAuthnJSON.requestOptions;
  var answer = window.WebAuthnJSON.answer;
  function start(form) {
    var error = form.querySelector(".passkey-error");
    var options = JSON.parse(form.getAttribute("data-passkey-options"));
    var ceremony = form.getAttribute("data-passkey-mode") === "create"
      ? navigator.credentials.create({ publicKey: creationOptions(options) })
      : navigator.credentials.get({ publicKey: requestOptions(options) });
    ceremony.then(function (credential) {
      form.querySelector("input[name=credential]").value = answer(credential);
      form.submit();
    }).catch(function () {
      if (error) { error.hidden = false; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".passkey-form").forEach(function (form) {
      var button = form.querySelector(".passkey-start");
      if (!window.PublicKeyCredential) {
        button.disabled = true;
        return;
      }
      button.addEventListener("click", function () { start(form); });
    });
  });
})();
