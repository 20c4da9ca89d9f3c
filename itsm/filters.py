from django.utils.translation import gettext_lazy as _
from django_filters.widgets import BooleanWidget


class AnyYesNoWidget(BooleanWidget):
    """A yes/no filter whose empty choice reads "Any" (not "Unknown"); the query string
    takes true/false, the same in the desk and the API."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.choices = (("", _("Any")), ("true", _("Yes")), ("false", _("No")))
