# One image for all six Resonanz services. docker-compose.yml picks the service by command:
#   python -m resonanz.<gateway|feedback|widgets|webhook_dispatcher|analytics|dashboard> [serve|...]
#   python -m resonanz.shared.migrate

# --- build: the locked dependencies, then the project's own wheel, into /opt/venv ---------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, exactly as locked (versions and hashes): this layer is rebuilt when the
# lock changes, not with every change to the code.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# The build backend, locked as well, in a venv of its own that stays in this stage.
COPY requirements-build.lock ./
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes -r requirements-build.lock

# The project as a wheel, as any installation gets it: an editable or in-tree install would
# hide a package the wheel leaves out. Its dependencies are in place already, hence --no-deps.
# setuptools maps the resonanz.* packages onto these folders (tool.setuptools.package-dir);
# tools/devstack (resonanz.devstack, the supervisor of `make run` and the tests) stays out.
COPY pyproject.toml setup.py LICENSE ./
COPY shared ./shared
COPY services ./services
RUN /opt/build/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /tmp/dist . \
 && pip install --no-deps /tmp/dist/resonanz-*.whl \
 && pip check

# Smoke check of the installation against the source tree (-I: /src is not on the path):
# every module imports, every service's entry point starts, and the dashboard's app (package
# data of the wheel, not modules) is installed file for file and assembles.
COPY tools/import_every_module.py ./tools/
RUN python -I tools/import_every_module.py /src > /dev/null \
 && for service in gateway feedback widgets webhook_dispatcher analytics dashboard; do \
        python -I -m "resonanz.$service" --help > /dev/null || exit 1; \
    done \
 && python -I -c 'import sys; from pathlib import Path; from resonanz.dashboard import app; \
        names = lambda folder: {p.name for p in Path(folder).iterdir() if p.is_file()}; \
        missing = names("/src/services/dashboard/static") - names(app.STATIC); \
        app.Bundle.load(); sys.exit(f"the wheel leaves out {sorted(missing)}" if missing else 0)'

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

# gateway, feedback, widgets, webhook_dispatcher, analytics, dashboard (RESONANZ_PORT selects one).
EXPOSE 8080 8081 8082 8083 8084 8085

# Default only; compose runs `migrate` and then the service it wants.
CMD ["python", "-m", "resonanz.gateway"]
