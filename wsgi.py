"""WSGI entry point for production servers: `gunicorn -c gunicorn.conf.py wsgi:app`."""
from backoffice import create_app

app = create_app()
