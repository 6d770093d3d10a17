"""Services: product logic with no knowledge of the HTTP request."""
