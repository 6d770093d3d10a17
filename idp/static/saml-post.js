// The SAML HTTP-POST binding: send the signed response on to the service at once.
document.getElementById("saml-post").submit();
