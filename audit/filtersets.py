import django_filters
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from .models import AuditAction, AuditEntry

User = get_user_model()


class AuditEntryFilterSet(django_filters.FilterSet):
    actor = django_filters.ModelChoiceFilter(queryset=User.objects.all(), label=_("Actor"))
    action = django_filters.ChoiceFilter(choices=AuditAction.choices, label=_("Action"))
    content_type = django_filters.ModelChoiceFilter(
        queryset=ContentType.objects.order_by("app_label", "model"), label=_("Record type"))
    object_id = django_filters.CharFilter(label=_("Record id"))
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte",
                                             label=_("From (ISO 8601)"))
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt",
                                             label=_("Until (ISO 8601)"))

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "content_type", "object_id", "since", "until"]
