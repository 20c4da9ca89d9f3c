"""Writes for software licences and installations (compliance reads are in selectors)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.services import reject_unknown_fields, require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from itsm.errors import Conflict, DomainError

from .models import ConfigurationItem, Installation, InstallationSource, SoftwareLicence

LICENCE_FIELDS = ("product", "name", "metric", "entitlement_count", "expiry_date",
                  "owner_team", "supplier", "cost")
PRODUCT_CLASS = "software_product"
# Classes software can be installed on.
DEVICE_CLASSES = ("server", "virtual_machine", "workstation", "mobile_device")


def _check_product(product: ConfigurationItem) -> None:
    if product.ci_class.key != PRODUCT_CLASS:
        raise DomainError(_("%(name)s is a %(cls)s, not a software product.")
                          % {"name": product.name, "cls": product.ci_class.name},
                          fields={"product": [_("Choose a software product.")]})


@transaction.atomic
@as_actor
def licence_create(*, actor: Any, **fields: Any) -> SoftwareLicence:
    require_permission(actor, "cmdb.add_softwarelicence")
    reject_unknown_fields(fields, LICENCE_FIELDS)
    licence = SoftwareLicence(**fields)
    if licence.product_id:
        _check_product(licence.product)
    validated(licence)
    licence.save()
    audit_record(action=AuditAction.CREATE, target=licence,
                 changes=diff({}, snapshot(licence, LICENCE_FIELDS)))
    return licence


@transaction.atomic
@as_actor
def licence_update(*, actor: Any, licence: SoftwareLicence, **changes: Any) -> SoftwareLicence:
    require_permission(actor, "cmdb.change_softwarelicence")
    reject_unknown_fields(changes, LICENCE_FIELDS)
    licence = SoftwareLicence.objects.select_for_update().get(pk=licence.pk)
    before = snapshot(licence, changes)
    for name, value in changes.items():
        setattr(licence, name, value)
    _check_product(licence.product)
    validated(licence)
    changed = diff(before, snapshot(licence, changes))
    if changed:
        licence.save()
        audit_record(action=AuditAction.UPDATE, target=licence, changes=changed)
    return licence


@transaction.atomic
@as_actor
def installation_add(*, actor: Any, product: ConfigurationItem, device: ConfigurationItem,
                     version: str = "", source: str = InstallationSource.MANUAL
                     ) -> Installation:
    require_permission(actor, "cmdb.add_installation")
    _check_product(product)
    if device.ci_class.key not in DEVICE_CLASSES:
        raise DomainError(_("Software cannot be installed on a %(cls)s.")
                          % {"cls": device.ci_class.name},
                          fields={"device": [_("Choose a server, VM, workstation or mobile "
                                               "device.")]})
    try:
        with transaction.atomic():
            installation = Installation.objects.create(product=product, device=device,
                                                       version=version, source=source)
    except IntegrityError as error:
        raise Conflict(_("%(product)s is already recorded on %(device)s.")
                       % {"product": product.name, "device": device.name},
                       fields={"device": [_("Already installed.")]}) from error
    audit_record(action=AuditAction.UPDATE, target=device, changes={
        "installed_software": [None, f"{product.name} {version}".strip()]})
    return installation


@transaction.atomic
@as_actor
def installation_remove(*, actor: Any, installation: Installation) -> None:
    require_permission(actor, "cmdb.delete_installation")
    device, product = installation.device, installation.product
    installation.delete()
    audit_record(action=AuditAction.UPDATE, target=device, changes={
        "installed_software": [product.name, None]})
