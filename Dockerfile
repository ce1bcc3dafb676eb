# One image for all five Resonanz services. docker-compose.yml picks the service by command:
#   python -m resonanz.<gateway|feedback|widgets|webhook_dispatcher|analytics> [migrate|serve]

# --- build: install the package and its pinned dependencies into a venv -------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# setuptools maps the resonanz.* packages onto these folders (tool.setuptools.package-dir).
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip install . \
 && python -c "import resonanz.shared, resonanz.gateway, resonanz.feedback, resonanz.widgets, resonanz.webhook_dispatcher, resonanz.analytics"

# --- runtime: the venv only, run as an unprivileged user -----------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RESONANZ_HOST=0.0.0.0

RUN groupadd --system --gid 10001 resonanz \
 && useradd --system --uid 10001 --gid resonanz --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin resonanz \
 && mkdir /app && chown resonanz:resonanz /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

# gateway, feedback, widgets, webhook_dispatcher, analytics (RESONANZ_PORT selects one).
EXPOSE 8080 8081 8082 8083 8084

# Default only; compose runs `migrate` and then the service it wants.
CMD ["python", "-m", "resonanz.gateway"]
