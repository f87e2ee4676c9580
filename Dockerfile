# Pressroom's api and worker image. Multi-stage: dependencies are installed (and compiled if a
# wheel is missing) in the build stage; the final image gets only the virtualenv, git (for git
# sources) and CA certificates, and runs as an unprivileged user.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pressroom ./pressroom
COPY activities ./activities
COPY workflows ./workflows
COPY api ./api
COPY starter ./starter
RUN /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install .

FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/pressroom pressroom \
 && mkdir -p /var/lib/pressroom /srv/sources \
 && chown pressroom:pressroom /var/lib/pressroom
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PRESSROOM_STATE_DIR=/var/lib/pressroom
USER pressroom
WORKDIR /home/pressroom
EXPOSE 8080
# `pressroom api` for the HTTP API; the compose file runs both.
CMD ["pressroom", "worker"]
