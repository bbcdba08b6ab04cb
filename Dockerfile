# syntax=docker/dockerfile:1
# Production image: set DATABASE_URL (and a sign-in mode) in the deployment.

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/sselfie
COPY pyproject.toml README.md requirements.lock ./
COPY settings ./settings
COPY server ./server
COPY identity ./identity
COPY domain ./domain
COPY persistence ./persistence
COPY schema ./schema
COPY resolvers ./resolvers
COPY request_context ./request_context
COPY replicate_client ./replicate_client
COPY image_storage ./image_storage
COPY image_processing ./image_processing
RUN /opt/sselfie/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/sselfie/bin/pip install --no-cache-dir --require-hashes -r requirements.lock \
 && /opt/sselfie/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 sselfie \
 && install --directory --owner=sselfie --group=sselfie /home/sselfie/data
COPY --from=build /opt/sselfie /opt/sselfie
ENV PATH="/opt/sselfie/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    SSELFIE_ENV=production \
    SSELFIE_DATA_DIR=/home/sselfie/data \
    PORT=8000
# The data directory: the images, when STORAGE_URL is unset (without a volume kept across
# restarts they are lost; several replicas need STORAGE_URL, a bucket they share).
VOLUME ["/home/sselfie/data"]
USER sselfie
WORKDIR /home/sselfie
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz')"
CMD ["sselfie", "serve", "--host", "0.0.0.0"]
