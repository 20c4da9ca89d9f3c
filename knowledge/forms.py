"""Desk and portal forms of the knowledge base. They collect values; the services decide
(refusals are shown at the field they name with ``add_domain_error``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accounts.models import Team

from .models import Article, ArticleVersion, Audience, Category

User = get_user_model()


class ArticleForm(forms.Form):
    """An article's fields and the text of its working version, on one page."""

    title = forms.CharField(label=_("Title"), max_length=200)
    summary = forms.CharField(label=_("Summary"), max_length=500, required=False,
                              widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=ArticleVersion._meta.get_field("summary").help_text)
    body = forms.CharField(label=_("Body"), required=False,
                           widget=forms.Textarea(attrs={"rows": 16}),
                           help_text=ArticleVersion._meta.get_field("body").help_text)
    category = forms.ModelChoiceField(label=_("Category"), required=False,
                                      queryset=Category.objects.select_related("parent"))
    audience = forms.ChoiceField(label=_("Audience"), choices=Audience.choices,
                                 initial=Audience.EVERYONE)
    keywords = forms.CharField(label=_("Keywords"), max_length=300, required=False,
                               help_text=Article._meta.get_field("keywords").help_text)
    owners = forms.CharField(label=_("Owners"), max_length=500, required=False,
                             help_text=_("Usernames, separated by commas. Empty: you."))
    owning_team = forms.ModelChoiceField(label=_("Owning team"), required=False,
                                         queryset=Team.objects.filter(is_active=True))
    review_required = forms.BooleanField(
        label=_("Review required"), required=False, initial=True,
        help_text=Article._meta.get_field("review_required").help_text)
    review_every_days = forms.IntegerField(
        label=_("Review every (days)"), required=False, min_value=1, max_value=3650,
        initial=365, help_text=Article._meta.get_field("review_every_days").help_text)

    def clean_owners(self) -> list[Any] | None:
        names = [n.strip() for n in self.cleaned_data["owners"].split(",") if n.strip()]
        if not names:
            return None
        people, missing = [], []
        for name in names[:20]:
            person = User.objects.filter(username__iexact=name, is_active=True).first()
            if person is None:
                missing.append(name)
            elif person not in people:
                people.append(person)
        if missing:
            raise forms.ValidationError(_("No active person with the username %(names)s.")
                                        % {"names": ", ".join(missing)})
        return people

    @classmethod
    def initial_from(cls, article: Article, version: ArticleVersion | None) -> dict[str, Any]:
        return {
            "title": version.title if version else article.title,
            "summary": version.summary if version else "",
            "body": version.body if version else "",
            "category": article.category_id, "audience": article.audience,
            "keywords": article.keywords,
            "owners": ", ".join(article.owners.values_list("username", flat=True)),
            "owning_team": article.owning_team_id, "review_required": article.review_required,
            "review_every_days": article.review_every_days,
        }

    def article_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {name: data[name] for name in ("category", "audience", "keywords",
                                              "owning_team", "review_required",
                                              "review_every_days")}


class ReviewForm(forms.Form):
    comment = forms.CharField(label=_("Review comment"), required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))


class FeedbackForm(forms.Form):
    helpful = forms.TypedChoiceField(
        label=_("Did this help?"), choices=(("yes", _("Yes")), ("no", _("No"))),
        coerce=lambda value: value == "yes")
    comment = forms.CharField(label=_("Comment (optional)"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}))
