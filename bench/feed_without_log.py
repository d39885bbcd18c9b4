"""The delivery-log benchmark's baseline: feedsvc's own app with the delivery log turned off.

gunicorn starts it with the same configuration as `wsgi:app`; the only
difference is that feed requests are not recorded, so the two servers
compare what writing the log costs a feed request.
"""

from feedsvc.web import create_app
from feedsvc.web.delivery import CONFIG_KEY

app = create_app()
app.config[CONFIG_KEY] = None
