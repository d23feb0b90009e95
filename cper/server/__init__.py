"""Serving cper in production: `cper serve` (gunicorn), the health endpoint `/sante`, the request
id carried by every log line, the error pages, and what collectstatic leaves out. The policy of
the Content-Security-Policy header is in settings (django-csp's middleware).

Deployment as a whole (variables, proxy, systemd units, upgrades): docs/deploiement.md.
"""
