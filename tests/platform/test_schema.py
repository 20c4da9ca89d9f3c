import re
from io import StringIO

from django.core.management import call_command


def test_openapi_schema_validates_and_documents_the_error_shape(client, db):
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 stdout=out)
    schema = client.get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "message", "fields"]
    me = schema["paths"]["/api/v1/users/me/"]["get"]["responses"]
    assert me["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert "apiToken" in schema["components"]["securitySchemes"]


def test_api_docs_page_is_served_without_a_cdn(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    # Every asset is ours. (A bare "cdn" search failed now and then: the page carries a
    # random CSRF token, which sometimes holds those three letters.)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/static/") for url in assets), assets
    assert not re.search(r"//[^\s\"']*(cdn|jsdelivr|unpkg|cloudflare)", html, re.I)
