from resonanz.shared.cli import main

from .app import SERVICE, AnalyticsSettings, create_app

main(SERVICE, AnalyticsSettings, create_app)  # type: ignore[arg-type]
