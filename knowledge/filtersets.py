"""One FilterSet for the article list, shared by the desk list and the API."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.filters import AnyYesNoWidget

from .models import Article, ArticleState, Audience, Category

User = get_user_model()


class ArticleFilterSet(django_filters.FilterSet):
    text = django_filters.CharFilter(method="_text", label=_("Number or title contains"))
    state = django_filters.ChoiceFilter(choices=ArticleState.choices, label=_("State"))
    category = django_filters.ModelChoiceFilter(queryset=Category.objects.all(),
                                                method="_category", label=_("Category"))
    audience = django_filters.ChoiceFilter(choices=Audience.choices, label=_("Audience"))
    owner = django_filters.CharFilter(method="_owner", label=_("Owner (username)"))
    due = django_filters.BooleanFilter(method="_due", widget=AnyYesNoWidget,
                                       label=_("Due for review"))
    source = django_filters.BooleanFilter(field_name="source_type", lookup_expr="isnull",
                                          exclude=True, widget=AnyYesNoWidget,
                                          label=_("Kept in step with another record"))

    class Meta:
        model = Article
        fields = ["text", "state", "category", "audience", "owner", "due", "source"]

    def _text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(number__iexact=value) | Q(title__icontains=value))

    def _category(self, queryset: QuerySet, name: str, value: Category | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(Q(category=value) | Q(category__parent=value))

    def _owner(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        if value.isdigit():
            return queryset.filter(owners__pk=int(value)).distinct()
        return queryset.filter(owners__username__iexact=value).distinct()

    def _due(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        due = Q(state=ArticleState.PUBLISHED, next_review_at__lte=timezone.now())
        return queryset.filter(due) if value else queryset.exclude(due)
