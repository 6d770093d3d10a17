/* Passkeys (WebAuthn): sign in with one on the login page, add one on the account page.
 * A form.passkey-form names its options URL in data-options-url and the ceremony in
 * data-passkey-mode ("create" or "get"); the browser's answer goes back in the form's
 * hidden "credential" field as JSON (base64url for binary values). Loaded as a file
 * (the CSP allows no inline script). */
(function () {
  "use strict";
  function toBytes(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }
  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
  }
  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
  }
  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = toText(response.userHandle);
    }
    return JSON.stringify(json);
  }
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
