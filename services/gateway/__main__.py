import argparse

from resonanz.shared.cli import main

from .admin import register
from .app import SERVICE, GatewaySettings, create_app
from .privacy_cli import register as register_privacy


def operator_commands(commands: argparse._SubParsersAction, settings: GatewaySettings) -> None:
    register(commands, settings)
    register_privacy(commands, settings)


main(SERVICE, GatewaySettings, create_app, extra=operator_commands)
