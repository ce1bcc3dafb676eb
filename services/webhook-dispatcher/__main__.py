from resonanz.shared.cli import main

from .app import SERVICE, WebhookDispatcherSettings, create_app

main(SERVICE, WebhookDispatcherSettings, create_app)  # type: ignore[arg-type]
