"""Library IdP: OpenID Connect provider for a city public library."""
