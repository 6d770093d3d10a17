"""SAML 2.0 identity provider (Web Browser SSO profile, SAML 2.0 Profiles §4.1) on pysaml2.

- :mod:`idp.saml.keys`: the IdP's own signing key and certificate (``<keys>/saml/``).
- :mod:`idp.saml.registry`: service providers from ``clients/*.toml`` (``protocol = "saml"``).
- :mod:`idp.saml.server`: the pysaml2 ``Server`` per request, metadata, request checks.
- :mod:`idp.saml.identity`: NameID and attributes a service provider receives.

Signing and verification are pysaml2's with Debian's ``xmlsec1``; XML is parsed by
pysaml2 through defusedxml (no DTDs, no entities), and every signature is checked by
xmlsec1 against the metadata's certificates, never by hand.
"""

from __future__ import annotations

import logging
import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pysaml2 names a cipher mode at import that cryptography has moved (one the IdP never
# uses); the warning would reach every operator command's output.
warnings.filterwarnings(
    "ignore", message="CFB has been moved", category=CryptographyDeprecationWarning
)
# xmlschema (under pysaml2) logs every schema it loads at INFO.
logging.getLogger("xmlschema").setLevel(logging.WARNING)
