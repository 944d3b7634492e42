# syntax=docker/dockerfile:1
# One image for every socialpulse process: `socialpulse api` by default;
# docker-compose.yml runs `migrate`, `collect` and `worker` from it too.

# --- build: install the package and its dependencies into a virtualenv ------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what the package needs: the build context also holds .venv/, var/ and the
# Kafka jars under deploy/, none of which belongs in the image.
# (README.m[d] copies README.md when it exists and is skipped when it does not.)
COPY pyproject.toml README.m[d] ./
COPY socialpulse ./socialpulse
COPY collectors ./collectors
COPY streams ./streams
COPY api ./api
COPY clickhouse ./clickhouse
# The pip cache lives in a BuildKit cache mount, so a source change does not
# download the dependencies (chdb is large) again, and the cache is not in the image.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install .

# --- runtime: the virtualenv and a non-root user, nothing else --------------
FROM python:3.11-slim

# The default var_dir sits next to the installed package (in site-packages),
# which the app user cannot write; local files go under this one instead.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SOCIALPULSE_VAR_DIR=/var/lib/socialpulse

RUN groupadd --system --gid 10001 socialpulse \
    && useradd --system --uid 10001 --gid socialpulse \
        --home-dir /var/lib/socialpulse --shell /usr/sbin/nologin socialpulse \
    && mkdir -p /var/lib/socialpulse \
    && chown socialpulse:socialpulse /var/lib/socialpulse

COPY --from=build /opt/venv /opt/venv

WORKDIR /var/lib/socialpulse
USER socialpulse

# read API, worker metrics, collector metrics
EXPOSE 8000 9101 9102

ENTRYPOINT ["socialpulse"]
CMD ["api"]
