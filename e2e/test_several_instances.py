"""Three people in three browsers reach three instances through nginx (round robin, the README's
configuration) on one PostgreSQL and one Redis; an instance is killed mid-edit (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from e2e.helpers import People, fetch_server_doc, fragment_text
from tests.live import ServerProcess
from tests.nginxproc import NginxProcess
from tests.pgproc import Postgres
from tests.redisproc import RedisProcess

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def deployment(tmp_path: Path, built_web: Path) -> Iterator[tuple[str, list[ServerProcess]]]:
    pg, redis = Postgres(), RedisProcess()
    pg.start()
    redis.start()
    dsn = pg.new_database()
    instances = [
        ServerProcess(
            tmp_path / "unused.db",
            {"COEDIT_INSTANCE_DEAD_SECONDS": "4"},
            args=["--store", dsn, "--bus", redis.url, "--instance-id", f"i{i}"],
            log_path=tmp_path / f"instance-{i}.log",
        )
        for i in range(3)
    ]
    nginx: NginxProcess | None = None
    try:
        for instance in instances:
            instance.start()
        ports = [int(i.url.rsplit(":", 1)[1]) for i in instances]
        nginx = NginxProcess(ports)
        nginx.start()
        yield nginx.url, instances
    finally:
        if nginx is not None:
            nginx.close()
        for instance in instances:
            instance.kill()
        redis.close()
        pg.close()


def test_three_people_on_three_instances_keep_every_edit_when_one_instance_dies(
    browser: Browser, deployment: tuple[str, list[ServerProcess]], artifacts: Path, doc_name: str
) -> None:
    base, instances = deployment
    people = People(browser=browser, base=base, artifacts=artifacts)
    failed = True
    try:
        crowd = [people.add(name, doc=doc_name) for name in ("Ann", "Ben", "Cat")]
        for person in crowd:
            person.wait_synced()
        for person in crowd:
            person.click_end()
            person.type(f" [{person.name} before]")
        for person in crowd:
            for other in crowd:
                person.wait_contains(f"[{other.name} before]")

        instances[0].kill()  # mid-edit: whoever it served reconnects through nginx elsewhere
        for person in crowd:
            person.click_end()
            person.type(f" [{person.name} after]")
        for person in crowd:
            for other in crowd:
                for when in ("before", "after"):
                    person.wait_contains(f"[{other.name} {when}]", timeout=30_000)
        for person in crowd:
            person.wait_saved(timeout=30_000)
        texts = {person.text() for person in crowd}
        assert len(texts) == 1, texts
        stored = fragment_text(fetch_server_doc(base, doc_name))
        assert stored == texts.pop()
        failed = False
    finally:
        people.finish(failed=failed)
