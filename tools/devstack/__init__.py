"""resonanz.devstack: the development supervisor for `make run`, the tests, the benchmark and
the drills. No service imports it.

`supervisor` starts the Docker-free infrastructure (embedded PostgreSQL, the Tansu broker, a
mail catcher) and the services as child processes; `run` is `make run`
(`python -m resonanz.devstack`).
"""
