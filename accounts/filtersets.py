"""One FilterSet per list: the desk list and the API list use the same ones."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from itsm.filters import AnyYesNoWidget

from .models import Team
from .roles import ROLES
from .selectors import search_people

User = get_user_model()
ROLE_CHOICES = [(role.key, role.name) for role in ROLES]


class PersonFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search"))
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), field_name="teams", label=_("Team")
    )
    role = django_filters.ChoiceFilter(choices=ROLE_CHOICES, method="filter_role",
                                       label=_("Role"))
    vip = django_filters.BooleanFilter(field_name="profile__vip", label=_("VIP"),
                                       widget=AnyYesNoWidget)
    is_active = django_filters.BooleanFilter(label=_("Active"), widget=AnyYesNoWidget)

    class Meta:
        model = User
        fields = ["q", "team", "role", "vip", "is_active"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(search_people(value)) if value else queryset

    def filter_role(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        role = next(r for r in ROLES if r.key == value)
        return queryset.filter(groups__name=role.name)


class TeamFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Search"))
    member = django_filters.ModelChoiceFilter(
        queryset=User.objects.all(), field_name="members", label=_("Member")
    )
    is_active = django_filters.BooleanFilter(label=_("Active"), widget=AnyYesNoWidget)

    class Meta:
        model = Team
        fields = ["q", "member", "is_active"]
