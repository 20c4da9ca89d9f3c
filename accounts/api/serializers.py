from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import TIME_ZONE_CHOICES, ApiToken, Team
from accounts.roles import ROLES
from accounts.services import SELF_EDITABLE_FIELDS, profile_of, user_roles

User = get_user_model()
ROLE_KEYS = [role.key for role in ROLES]


class TeamRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]


class UserSerializer(serializers.ModelSerializer):
    """A person as the desk sees them. Profile fields are flattened onto the user."""

    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    name = serializers.SerializerMethodField()
    job_title = serializers.CharField(max_length=150, required=False, allow_blank=True)
    department = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    manager = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True
    )
    location = serializers.CharField(max_length=150, required=False, allow_blank=True)
    time_zone = serializers.ChoiceField(choices=TIME_ZONE_CHOICES, required=False)
    vip = serializers.BooleanField(required=False)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ROLE_KEYS), required=False,
        help_text=_("Role keys: %(keys)s") % {"keys": ", ".join(ROLE_KEYS)},
    )
    teams = TeamRefSerializer(many=True, read_only=True)
    password = serializers.CharField(write_only=True, required=False, min_length=10,
                                     style={"input_type": "password"})

    PROFILE_FIELDS = ("display_name", "job_title", "department", "phone", "manager",
                      "location", "time_zone", "vip")

    class Meta:
        model = User
        fields = [
            "id", "username", "name", "email", "first_name", "last_name", "is_active",
            "display_name", "job_title", "department", "phone", "manager", "location",
            "time_zone", "vip", "roles", "teams", "password", "last_login", "date_joined",
        ]
        read_only_fields = ["last_login", "date_joined"]
        extra_kwargs = {"username": {"validators": []}}

    def get_name(self, user: Any) -> str:
        return profile_of(user).name

    def to_representation(self, user: Any) -> dict[str, Any]:
        data = super().to_representation(user)
        profile = profile_of(user)
        for name in self.PROFILE_FIELDS:
            value = getattr(profile, "manager_id" if name == "manager" else name)
            data[name] = value
        data["roles"] = user_roles(user)
        return data


class MeSerializer(UserSerializer):
    """What a person may change about themselves; everything else is read-only here."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields.pop("password")
        for name, field in fields.items():
            if name not in SELF_EDITABLE_FIELDS:
                field.read_only = True
        return fields


class TeamSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "email", "phone", "manager", "is_service_desk",
                  "is_active", "member_count", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"name": {"validators": []}, "is_service_desk": {"validators": []}}
        validators: list = []  # uniqueness is the service's to decide (409 with the field)


class MemberSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())


class ApiTokenSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at",
                  "revoked_at", "status"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text=_("The token itself. Shown only in this response.")
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
