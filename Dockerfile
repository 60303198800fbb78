# syntax=docker/dockerfile:1
# Two stages: the build stage compiles mysqlclient into a virtualenv; the runtime stage has only the
# client library, the virtualenv and the code, and runs as an unprivileged user.

FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.txt requirements-mysql.txt /tmp/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements/requirements-mysql.txt

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    BIND_HOST=0.0.0.0 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN apt-get update && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
# Static files are collected into the image (and copied to nginx's volume by the migrate service).
RUN DEBUG=False SECRET_KEY=collectstatic-only-$(date +%s%N) TICKET_SIGNING_KEY=$(head -c 32 /dev/urandom | base64) \
    python manage.py collectstatic --noinput \
    && chown -R app:app /app/staticfiles
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["python", "scripts/healthcheck.py", "web"]
CMD ["gunicorn", "ticketing.wsgi", "-c", "gunicorn.conf.py"]
