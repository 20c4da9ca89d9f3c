"""Create the first administrator through the same service the desk uses, so the account
has its role, its profile and an audit entry (``createsuperuser`` gives none of these)."""

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from audit.context import acting_as_system
from itsm.errors import DomainError


class Command(BaseCommand):
    help = "Create an administrator. The password comes from --password-env or a prompt."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-env", metavar="VAR",
                            help="read the password from this environment variable")

    def handle(self, *args, username: str, email: str, password_env: str | None,
               **options) -> None:
        if password_env:
            password = os.environ.get(password_env, "")
            if not password:
                raise CommandError(f"Environment variable {password_env} is empty or unset.")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        try:
            with acting_as_system("create_admin"):
                services.user_create(actor=None, username=username, email=email,
                                     password=password, roles=["administrator"])
        except DomainError as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.fields.items())
            raise CommandError(f"{error.message} {problems}".strip()) from error
        self.stdout.write(self.style.SUCCESS(f"Administrator {username} created."))
