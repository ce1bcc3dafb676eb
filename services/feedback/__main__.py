from resonanz.shared.cli import main

from .app import SERVICE, FeedbackSettings, create_app

main(SERVICE, FeedbackSettings, create_app)
