# syntax=docker/dockerfile:1
# Multi-stage: build a wheel-only virtualenv, then copy it into a slim runtime as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# constraints.txt: the exact versions CI tests and audits (SECURITY.md), as `make install` uses.
COPY pyproject.toml README.md constraints.txt ./
COPY core ./core
COPY web ./web
COPY people ./people
COPY runtime ./runtime
COPY api ./api
COPY accounts ./accounts
COPY declarations ./declarations
COPY qr ./qr
COPY checkpoints ./checkpoints
COPY notifications ./notifications
COPY reports ./reports
COPY publicmap ./publicmap
COPY certificates ./certificates
COPY entry ./entry
COPY questions ./questions
COPY monitoring ./monitoring
COPY rights ./rights
COPY load ./load
RUN pip install --upgrade pip && pip install -c constraints.txt .

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KHAIBAO_ENV=production \
    KHAIBAO_DATABASE_URL=sqlite:////data/khaibao.sqlite3
RUN groupadd --system --gid 10001 khaibao \
 && useradd --system --uid 10001 --gid khaibao --home-dir /app --shell /usr/sbin/nologin khaibao \
 && mkdir -p /data /app && chown khaibao:khaibao /data /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER khaibao
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["khaibao", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
