# syntax=docker/dockerfile:1
#
# llmforge on the CPU: `llmforge serve` (and every other command) installed from a wheelhouse,
# with no network at build time. UNTESTED BUILD: no Docker engine ran where this was written; a
# test parses it (tests/test_deploy.py). See README, "When one machine is not enough".
#
# On the CONNECTED machine (the only thing fetched is the base image, pulled beforehand):
#   scripts/build-wheelhouse.sh --debs --out wheelhouse    # in a debian:12 container: the image's OS
#                                                          # and Python (3.11) must match the wheels
#   docker pull debian:12.8-slim
#   DOCKER_BUILDKIT=1 docker build --network=none -t llmforge:0.1.0 .
#   docker save llmforge:0.1.0 | gzip > llmforge-0.1.0.tar.gz    # carry it in; `docker load` there
# Pin the base by digest once pulled: FROM debian@sha256:... (docker inspect --format
# '{{index .RepoDigests 0}}' debian:12.8-slim).
#
# Run (the project on a volume; users or keys and `llmforge tls init` first, as on any server):
#   docker run -d -p 8000:8000 -v kb:/data/project -v llmforge-cache:/var/cache/llmforge llmforge:0.1.0
#   docker run --rm -it -v kb:/data/project llmforge:0.1.0 users add ada --role admin
FROM debian:12.8-slim

ENV LLMFORGE_PROJECT=/data/project \
    LLMFORGE_CACHE=/var/cache/llmforge \
    LLMFORGE_WHEEL_CACHE=/opt/llmforge/wheels \
    LLMFORGE_SERVE_PORT=8000 \
    PATH=/opt/llmforge/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_INDEX=1

# The wheelhouse is bind-mounted for this one step, so none of it stays in a layer.
# install-offline.sh verifies every file against SHA256SUMS, installs the Debian packages it
# carries (Python 3.11, Tesseract with Arabic and English) from their .deb files, creates the venv
# and runs pip with --no-index --find-links on the wheelhouse only.
RUN --mount=type=bind,source=wheelhouse,target=/tmp/wheelhouse \
    bash /tmp/wheelhouse/install-offline.sh --wheelhouse /tmp/wheelhouse --venv /opt/llmforge/.venv \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && groupadd --system --gid 10001 llmforge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/llmforge --create-home \
               --shell /usr/sbin/nologin llmforge \
    && install -d -o 10001 -g 10001 -m 0750 /data/project /var/cache/llmforge

COPY --chmod=0755 deploy/cron/nightly-ingest.sh /usr/local/bin/llmforge-nightly-ingest
COPY --chmod=0644 deploy/docker/healthcheck.py /opt/llmforge/healthcheck.py

USER 10001:10001
WORKDIR /data/project
VOLUME ["/data/project", "/var/cache/llmforge"]
EXPOSE 8000

# /healthz over HTTPS, trusting the project's CA (127.0.0.1 is in its server certificate). The
# first start assembles the base model into the cache: allow for it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["/opt/llmforge/.venv/bin/python", "/opt/llmforge/healthcheck.py"]

ENTRYPOINT ["llmforge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--tls"]
