"""What the tests share: servers on loopback, certificates, factories, OIDC and sign-in helpers.

``tests/conftest.py`` registers :mod:`tests.support.fixtures` as a pytest plugin; the other
modules are plain helpers that tests import.
"""
