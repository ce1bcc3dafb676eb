from resonanz.shared.cli import main

from .app import SERVICE, DashboardSettings, create_app

main(SERVICE, DashboardSettings, create_app)
