from django.apps import AppConfig


class SampleTicketsConfig(AppConfig):
    name = "tests.sample_tickets"
    label = "sample_tickets"
