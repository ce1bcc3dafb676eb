from resonanz.shared.cli import main

from .admin import register
from .app import SERVICE, GatewaySettings, create_app

main(SERVICE, GatewaySettings, create_app, extra=register)
