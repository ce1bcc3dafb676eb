from resonanz.shared.cli import main

from .app import SERVICE, WidgetsSettings, create_app

main(SERVICE, WidgetsSettings, create_app)
