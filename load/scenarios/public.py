"""Anyone, no sign-in: the public epidemic map (a first visit, then the same answer
revalidated with If-None-Match, which must be a 304) and FAQ searches."""

from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import quote

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from load.data import vietnam_today
from load.scenarios.common import call
from load.settings import get_load_settings

_settings = get_load_settings()
SEARCHES = (
    "khai bao y te",
    "ma qr",
    "xet nghiem nhanh",
    "cach ly tai nha bao lau",
    "nhap canh can giay to gi",
    "Khai báo y tế ở Hà Nội",
)


class PublicVisitor(FastHttpUser):
    weight = _settings.public_weight
    wait_time = between(*_settings.public_wait)
    network_timeout = _settings.request_timeout
    connection_timeout = _settings.request_timeout

    rng: random.Random
    etags: dict[str, str]

    def on_start(self) -> None:
        self.rng = random.Random()
        self.etags = {}

    @task(3)
    def map(self) -> None:
        day = vietnam_today() - timedelta(days=self.rng.randrange(5))
        path = f"/v1/public/regions?level=province&date={day}"
        etag = self.etags.get(path)
        if etag is None:
            with self.client.get(path, name="/v1/public/regions", catch_response=True) as answer:
                if answer.status_code == 200:
                    self.etags[path] = answer.headers.get("etag", "")
                    answer.success()
                else:
                    answer.failure(f"unexpected {answer.status_code}")
            return
        call(
            self,
            "GET",
            path,
            name="/v1/public/regions (If-None-Match)",
            expect=(304, 200),
            rng=self.rng,
            headers={"If-None-Match": etag},
        )

    @task(1)
    def faq(self) -> None:
        text = self.rng.choice(SEARCHES)
        call(
            self, "GET", f"/v1/faq?q={quote(text)}", name="/v1/faq?q=", expect=(200,), rng=self.rng
        )
