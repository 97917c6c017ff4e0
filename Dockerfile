# Huashu service image. Build: docker build -t huashu .  Run: docker run -p 8000:8000 -v huashu-data:/data huashu
# A precise tag, the Python that constraints.txt was made with (3.11.7, Debian 12). Tags can be
# rebuilt under the same name: to pin the exact image, append its digest as printed by
# `docker buildx imagetools inspect python:3.11.7-slim-bookworm` (FROM python:3.11.7-slim-bookworm@sha256:…).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/huashu.db \
    CACHE_DIR=/data/cache

WORKDIR /srv/huashu
COPY pyproject.toml README.md constraints.txt ./
COPY app ./app
COPY classifiers ./classifiers
COPY scripts_corpus ./scripts_corpus
# The same pinned versions as the tests ran with (constraints.txt; pyproject keeps the ranges).
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --home /data huashu \
    && mkdir -p /data && chown huashu /data

USER huashu
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
# Create the first key inside the container: docker exec -it CONTAINER huashu keys create --role admin --name me
# It listens on every interface, but answers only the Host names in ALLOWED_HOSTS (default: localhost,
# 127.0.0.1, ::1; any other Host is a 400 invalid_host). Serving under another name, set them, and keep
# 127.0.0.1 for the HEALTHCHECK above:  -e ALLOWED_HOSTS='["huashu.example.com", "127.0.0.1"]'
# `huashu serve`, not plain `uvicorn app.main:app`: only it has the header size and time limits
# (MAX_HEADER_BYTES, HEADER_TIMEOUT_S) and the WebSocket send timeout (app/server.py).
CMD ["huashu", "serve", "--host", "0.0.0.0", "--port", "8000"]
