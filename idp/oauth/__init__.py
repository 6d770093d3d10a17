"""OAuth 2.0 / OpenID Connect wiring on Authlib's server components."""
