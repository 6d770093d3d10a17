"""Patron accounts: self-service, creation and import, re-issue, password rules, passkeys."""
