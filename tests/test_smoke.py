def test_healthz_answers_with_json(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "up"}


def test_demo_users_reach_home(as_user):
    for username in ["admin", "inspector.q1", "ward.bennghe", "org1.admin", "org1.staff"]:
        response = as_user(username).get("/admin/")
        assert response.status_code == 200, username
