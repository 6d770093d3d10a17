"""The staff console's rules without HTTP: accounts, roles, sign-in, second factors, reports."""
