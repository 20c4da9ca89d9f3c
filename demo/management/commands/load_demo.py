from django.core.management.base import BaseCommand

from demo.loader import DEMO_PASSWORD, LOGINS, ORGANISATION, load_demo


class Command(BaseCommand):
    help = "Load (or top up) the demo organisation. Safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quiet", action="store_true", help="Do not list the logins.")

    def handle(self, *args, quiet: bool = False, **options) -> None:
        load_demo(log=lambda line: self.stdout.write(line))
        if quiet:
            return
        self.stdout.write(self.style.SUCCESS(f"\nDemo organisation: {ORGANISATION}"))
        self.stdout.write(f"Every demo login has the password: {DEMO_PASSWORD}")
        for login in LOGINS:
            roles = ", ".join(r.replace("_", " ") for r in login.roles)
            self.stdout.write(f"  {login.username:<18} {roles}")
