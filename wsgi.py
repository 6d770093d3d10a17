"""WSGI entry point for production servers: ``gunicorn 'wsgi:app'``."""

from idp import create_app

app = create_app()
