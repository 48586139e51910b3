"""gunicorn's settings beyond its command lines (Procfile, Dockerfile, docker-compose.yml), which all start it
in this directory: gunicorn reads ./gunicorn.conf.py by default."""

from config.env import env_int

# Seconds an idle kept-alive connection stays open: longer than clients keep one in their pools (httpx, under
# the mem0 client: 5 s; nginx in front: 60 s), so that the client closes it, not gunicorn. When gunicorn closes a
# connection as a client reuses it, that request fails (bench load saw 2 ReadErrors in 5,129 requests with
# gunicorn's default of 2 s).
keepalive = env_int("WEB_KEEPALIVE", 75, minimum=0)

# The longest request line (method, URL, version) taken: filters travel in query strings (the mem0 client's
# delete_all sends them there), and gunicorn's default of 4094 bytes answered a plain-text 414 before the API
# saw them. 8190 is gunicorn's highest bounded value, and what nginx takes by default.
limit_request_line = 8190
