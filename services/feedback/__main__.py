from resonanz.shared.cli import main

from .app import SERVICE, FeedbackSettings, create_app
from .rescore import register

main(SERVICE, FeedbackSettings, create_app, extra=register)
