def test_healthz(client):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}
