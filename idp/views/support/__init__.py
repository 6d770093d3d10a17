"""What the blueprints share and are not blueprints themselves: forms, error pages, security
headers, the input guard, bearer-token checks, safe ``next`` URLs, the OpenAPI document and
the WSGI fast path of the token endpoints."""
