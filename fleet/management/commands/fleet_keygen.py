"""Create the job-signing key pair: the private key file for the worker (mode 0600) and the
public key agents pin. ``--rotate`` makes a new key current and retires the old one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from fleet import signing
from fleet.models import SigningKey


class Command(BaseCommand):
    help = "Create (or rotate) the fleet's job-signing key pair."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rotate", action="store_true",
                            help="Replace the current key (agents learn the new one).")
        parser.add_argument("--if-missing", action="store_true",
                            help="Do nothing when a key file and a current key exist.")

    def handle(self, *args: Any, rotate: bool = False, if_missing: bool = False,
               **options: Any) -> None:
        path = signing.key_path()
        current = SigningKey.objects.filter(retired_at__isnull=True).first()
        if path.exists() and current is not None and not rotate:
            if if_missing:
                return
            raise CommandError(f"A signing key exists ({path}, key {current.key_id}); use "
                               "--rotate to replace it.")
        if path.exists() and current is None and not rotate:
            key = signing.private_key()  # a file without its row: record it
        else:
            key = signing.generate(path)
        public = key.public_key()
        with transaction.atomic():
            SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=timezone.now())
            SigningKey.objects.update_or_create(
                key_id=signing.key_id_of(public),
                defaults={"public_key": signing.public_b64(public), "retired_at": None})
        if options.get("verbosity", 1):
            self.stdout.write(f"Job-signing key {signing.key_id_of(public)} written to {path}.")
