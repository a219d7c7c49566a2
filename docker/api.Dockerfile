# syntax=docker/dockerfile:1
# The image of every Python service: api, signaling, media and the one-shot migrate
# (docker-compose.yml picks the process with `command`). Build context: the repository root.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, in their own layer, rebuilt only when pyproject.toml or the pinned versions
# change: installing the project without its packages pulls every runtime dependency (never the
# [dev] extra), at the versions CI tested (constraints.txt).
COPY pyproject.toml README.md constraints.txt ./
RUN pip install . -c constraints.txt && pip uninstall --yes hospital-hub

COPY app/ app/
COPY signaling/ signaling/
COPY media/ media/
RUN pip install --no-deps .


FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/srv/hospital
RUN groupadd --system --gid 10001 hospital \
 && useradd --system --uid 10001 --gid hospital --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin hospital

COPY --from=build /opt/venv /opt/venv

# The sources again, next to alembic.ini and migrations/: with PYTHONPATH every entry point
# (uvicorn, python -m, the `hospital` script) imports this copy, so paths computed from
# app/config.py's ROOT find alembic.ini and migrations/ here, not in site-packages.
WORKDIR /srv/hospital
COPY app/ app/
COPY signaling/ signaling/
COPY media/ media/
COPY migrations/ migrations/
COPY alembic.ini ./

# Owned by root, run as an unprivileged user: the code cannot be changed by the process.
USER hospital:hospital
EXPOSE 8000 8001 8002
CMD ["uvicorn", "app.main:create_app", "--factory", "--host=0.0.0.0", "--port=8000"]
