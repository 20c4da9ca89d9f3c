import datetime

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import TIME_ZONE_CHOICES, Team
from .roles import ROLES

User = get_user_model()
ROLE_CHOICES = [(role.key, role.name) for role in ROLES]


class PersonChoiceField(forms.ModelChoiceField):
    """Pick a person by name (with their username), not by username alone."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("queryset", User.objects.filter(is_active=True).select_related(
            "profile").order_by("first_name", "last_name", "username"))
        super().__init__(**kwargs)

    def label_from_instance(self, user) -> str:
        profile = getattr(user, "profile", None)
        name = profile.name if profile is not None else user.get_full_name()
        return f"{name} ({user.username})" if name and name != user.username else user.username


class ProfileForm(forms.Form):
    """What anyone may change about themselves."""

    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False,
                                   help_text=_("How your name appears on tickets."))
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    location = forms.CharField(label=_("Location"), max_length=150, required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=TIME_ZONE_CHOICES,
                                  help_text=_("Times are shown to you in this zone."))


class PersonForm(ProfileForm):
    """An administrator's view of a person."""

    username = forms.CharField(label=_("Username"), max_length=150)
    email = forms.EmailField(label=_("Email"), required=False)
    job_title = forms.CharField(label=_("Job title"), max_length=150, required=False)
    department = forms.CharField(label=_("Department"), max_length=150, required=False)
    manager = PersonChoiceField(label=_("Manager"), required=False)
    vip = forms.BooleanField(label=_("VIP"), required=False,
                             help_text=_("VIP callers are prioritised by routing rules."))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True,
                                   help_text=_("Inactive people cannot sign in."))
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=ROLE_CHOICES,
                                      widget=forms.CheckboxSelectMultiple, required=False)
    password = forms.CharField(
        label=_("Password"), required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Set a password they can sign in with (at least 10 characters). "
                    "Leave empty to keep the current one."),
    )
    field_order = ["username", "first_name", "last_name", "display_name", "email", "job_title",
                   "department", "phone", "location", "time_zone", "manager", "vip",
                   "is_active", "roles", "password"]


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "description", "email", "phone", "manager", "is_service_desk",
                  "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager"] = PersonChoiceField(label=_("Manager"), required=False)

    def validate_unique(self) -> None:
        # The service decides uniqueness and says so at the field.
        pass


class AddMemberForm(forms.Form):
    user = PersonChoiceField(label=_("Person"))


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("What the token is for, e.g. 'monitoring bridge'."))
    expires_at = forms.DateField(
        label=_("Expires on"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for a token that does not expire."),
    )

    def clean_expires_at(self) -> datetime.date | None:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.localdate():
            raise forms.ValidationError(_("Choose a date after today."))
        return value

    def expiry(self) -> datetime.datetime | None:
        """The chosen day as the start of that day in the person's time zone."""
        value = self.cleaned_data.get("expires_at")
        if value is None:
            return None
        return timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))
