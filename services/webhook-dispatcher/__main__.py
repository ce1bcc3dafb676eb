from resonanz.shared.cli import main

from .app import SERVICE, WebhookDispatcherSettings, create_app
from .reencrypt import register

main(SERVICE, WebhookDispatcherSettings, create_app, extra=register)
