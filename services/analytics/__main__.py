from resonanz.shared.cli import main

from .app import SERVICE, AnalyticsSettings, create_app
from .rebuild import register

main(SERVICE, AnalyticsSettings, create_app, extra=register)
