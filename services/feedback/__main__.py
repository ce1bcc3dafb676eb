import argparse

from resonanz.shared.cli import main

from . import reencrypt, rescore
from .app import SERVICE, FeedbackSettings, create_app


def register(commands: argparse._SubParsersAction, settings: FeedbackSettings) -> None:
    rescore.register(commands, settings)
    reencrypt.register(commands, settings)


main(SERVICE, FeedbackSettings, create_app, extra=register)
