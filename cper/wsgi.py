"""WSGI entry point (`cper serve` runs it under gunicorn; any WSGI server may).

With DEBUG off it refuses to load without a SECRET_KEY of the site's own
(cper.server.checks): a server started by hand gets the same refusal as `cper serve`.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
application = get_wsgi_application()

from cper.server.checks import refuse_without_secret_key  # noqa: E402  (settings loaded above)

refuse_without_secret_key()
