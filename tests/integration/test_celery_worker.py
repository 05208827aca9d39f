import pytest

from webui.celery import app


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_worker_answers_and_has_the_project_tasks(celery_worker):
    replies = app.control.ping(timeout=2)
    assert replies, celery_worker.log()[-2000:]
    (hostname,) = (name for reply in replies for name in reply)
    assert hostname.startswith("test-")
    stats = app.control.inspect(timeout=2).stats()
    assert stats[hostname]["pool"]["max-concurrency"] == 2
