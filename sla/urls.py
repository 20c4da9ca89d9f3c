from django.urls import path

from . import views

app_name = "sla"
urlpatterns = [
    path("", views.AgreementListView.as_view(), name="agreement_list"),
    path("agreements/new/", views.AgreementFormView.as_view(), name="agreement_create"),
    path("agreements/<int:pk>/", views.AgreementFormView.as_view(), name="agreement_edit"),
    path("agreements/<int:pk>/move/", views.AgreementMoveView.as_view(),
         name="agreement_move"),
    path("agreements/<int:pk>/delete/", views.AgreementDeleteView.as_view(),
         name="agreement_delete"),
    path("calendars/", views.CalendarListView.as_view(), name="calendar_list"),
    path("calendars/new/", views.CalendarCreateView.as_view(), name="calendar_create"),
    path("calendars/<int:pk>/", views.CalendarDetailView.as_view(), name="calendar_detail"),
    path("calendars/<int:pk>/delete/", views.CalendarDeleteView.as_view(),
         name="calendar_delete"),
    path("calendars/<int:pk>/holidays/", views.HolidayAddView.as_view(), name="holiday_add"),
    path("calendars/<int:pk>/holidays/generate/", views.HolidaysGenerateView.as_view(),
         name="holidays_generate"),
    path("calendars/<int:pk>/holidays/<int:holiday_pk>/delete/",
         views.HolidayRemoveView.as_view(), name="holiday_remove"),
    path("calendars/<int:pk>/exceptions/", views.ExceptionSetView.as_view(),
         name="exception_set"),
    path("calendars/<int:pk>/exceptions/<int:exception_pk>/delete/",
         views.ExceptionRemoveView.as_view(), name="exception_remove"),
]
