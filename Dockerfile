# Huashu service image. Build: docker build -t huashu .  Run: docker run -p 8000:8000 -v huashu-data:/data huashu
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/huashu.db \
    CACHE_DIR=/data/cache

WORKDIR /srv/huashu
COPY pyproject.toml README.md ./
COPY app ./app
COPY classifiers ./classifiers
COPY scripts_corpus ./scripts_corpus
RUN pip install --no-cache-dir . \
    && useradd --system --home /data huashu \
    && mkdir -p /data && chown huashu /data

USER huashu
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
# Create the first key inside the container: docker exec -it CONTAINER huashu keys create --role admin --name me
CMD ["huashu", "serve", "--host", "0.0.0.0", "--port", "8000"]
