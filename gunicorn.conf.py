"""gunicorn's settings beyond the address it binds, which its command lines (Procfile, Dockerfile,
docker-compose.yml) give; they all start it in this directory, and gunicorn reads ./gunicorn.conf.py by default.
A bad value of a variable stops gunicorn with one line naming it (config.env)."""

from config.env import env_int

# The web process's settings live here, not on the command lines of the Procfile, the Dockerfile and
# docker-compose.yml (which only bind), so that every way of starting it takes the same ones.
workers = env_int("WEB_CONCURRENCY", 3)
threads = env_int("WEB_THREADS", 4)
# A request may wait on the LLM (LLM_TIMEOUT_SECONDS, 60, retried once).
timeout = 120
# SIGTERM: requests under way get this long to finish (docker-compose.yml waits 30 s before it kills).
graceful_timeout = 25
# onnxruntime threads per web process: several processes and threads already share the cores.
raw_env = [f"EMBEDDER_THREADS={env_int('EMBEDDER_THREADS', 1)}"]

# Seconds an idle kept-alive connection stays open: longer than clients keep one in their pools (httpx, under
# the mem0 client: 5 s; nginx in front: 60 s), so that the client closes it, not gunicorn. When gunicorn closes a
# connection as a client reuses it, that request fails (bench load saw 2 ReadErrors in 5,129 requests with
# gunicorn's default of 2 s).
keepalive = env_int("WEB_KEEPALIVE", 75, minimum=0)

# The longest request line (method, URL, version) taken: filters travel in query strings (the mem0 client's
# delete_all sends them there), and gunicorn's default of 4094 bytes answered a plain-text 414 before the API
# saw them. 8190 is gunicorn's highest bounded value, and what nginx takes by default.
limit_request_line = 8190
