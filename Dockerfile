# modelshelf: one image for every replica. Build: docker build -t modelshelf .
# docs/deployment.md shows a replicated deployment with deploy/compose.yaml.
FROM python:3.11-slim

# git fetches the mirrors of Git-model projects; ssh for git@ and ssh:// repositories.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[postgres,s3,azure,gcs]' && rm -rf /build

# Never root: the data directory (Git mirrors; the SQLite file when no database URL is set) is its own.
RUN useradd --system --uid 10001 --create-home --home-dir /home/modelshelf modelshelf \
    && install -d -o modelshelf -g modelshelf -m 0700 /var/lib/modelshelf
USER modelshelf
WORKDIR /home/modelshelf
ENV MODELSHELF_DATA_DIR=/var/lib/modelshelf \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/modelshelf"]
EXPOSE 8080

# Ready means the database answers and its schema is the code's: a replica that is not is taken out of
# the load balancer (which probes /readyz itself) and reported unhealthy here.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status != 200)"]

ENTRYPOINT ["modelshelf"]
CMD ["serve", "--host", "0.0.0.0"]
