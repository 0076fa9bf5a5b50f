# fleetsvc: production image. No embedded PostgreSQL here: DATABASE_URL is required.
#   docker build -t fleetsvc .
#   docker run -e DATABASE_URL=postgresql://fleetsvc:...@db/fleetsvc -p 8000:8000 fleetsvc

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fleetsvc ./fleetsvc
COPY api ./api
COPY web ./web
COPY db ./db
COPY importers ./importers
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLEETSVC_HOST=0.0.0.0 \
    FLEETSVC_PORT=8000 \
    FLEETSVC_LOG_FORMAT=json \
    FLEETSVC_REQUIRE_DATABASE_URL=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fleetsvc
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /tmp
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('FLEETSVC_PORT', '8000'), timeout=2)"
CMD ["fleetsvc", "serve"]
