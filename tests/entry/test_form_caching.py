"""The entry form and the border gates, as a traveller's phone on 3G fetches them: a strong
ETag per language and per content coding, a 304 that repeats the 200's validators, and
`?lang=` read as Accept-Language reads a tag (docs/api.md)."""

from __future__ import annotations

import httpx
import pytest

from core.context import Context
from tests.conftest import sign_in_staff

FORM = "/v1/entry/form"
POINTS = "/v1/entry/points"
PLAIN = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}
VALIDATORS = ("etag", "cache-control", "vary")


def validators(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in VALIDATORS}


async def revalidated(
    client: httpx.AsyncClient, url: str, first: httpx.Response, **headers: str
) -> httpx.Response:
    return await client.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})


class TestTheFormIsRevalidated:
    @pytest.mark.parametrize("coding", [PLAIN, GZIP])
    async def test_the_tag_back_is_a_304_with_the_same_validators(
        self, client: httpx.AsyncClient, coding: dict[str, str]
    ) -> None:
        first = await client.get(FORM, params={"lang": "vi"}, headers=coding)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"')
        assert not etag.startswith("W/")
        assert first.headers["cache-control"] == "public, max-age=3600"
        assert first.headers["vary"] == "Accept-Encoding"
        for held in (etag, f"W/{etag}", f'"old", {etag}', "*"):
            again = await client.get(
                FORM, params={"lang": "vi"}, headers={**coding, "If-None-Match": held}
            )
            assert again.status_code == 304, held
            assert again.content == b""
            assert validators(again) == validators(first)

    async def test_gzipped_and_plain_bytes_have_tags_of_their_own(
        self, client: httpx.AsyncClient
    ) -> None:
        plain = await client.get(FORM, params={"lang": "vi"}, headers=PLAIN)
        packed = await client.get(FORM, params={"lang": "vi"}, headers=GZIP)
        assert "content-encoding" not in plain.headers
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.num_bytes_downloaded < plain.num_bytes_downloaded
        assert packed.json() == plain.json()
        assert packed.headers["etag"] != plain.headers["etag"]
        # A cache holding the plain bytes does not get a 304 for the gzipped ones.
        crossed = await revalidated(client, FORM + "?lang=vi", plain, **GZIP)
        assert crossed.status_code == 200
        assert crossed.headers["etag"] == packed.headers["etag"]

    async def test_a_negotiated_form_varies_by_language_too(
        self, client: httpx.AsyncClient
    ) -> None:
        korean = await client.get(FORM, headers={**GZIP, "Accept-Language": "ko-KR"})
        assert korean.json()["lang"] == "ko"
        assert korean.headers["vary"] == "Accept-Language, Accept-Encoding"
        again = await revalidated(client, FORM, korean, **GZIP, **{"Accept-Language": "ko"})
        assert again.status_code == 304
        assert validators(again) == validators(korean)
        # The same tag from a phone that reads Japanese: the Japanese form, not a 304.
        japanese = await revalidated(client, FORM, korean, **GZIP, **{"Accept-Language": "ja"})
        assert japanese.status_code == 200
        assert japanese.json()["lang"] == "ja"
        assert japanese.headers["etag"] != korean.headers["etag"]


class TestLangIsReadAsAcceptLanguageReadsIt:
    @pytest.mark.parametrize(
        ("asked", "lang"),
        [
            ("vi-VN", "vi"),
            ("vi_VN", "vi"),
            ("zh-CN", "zh"),
            ("zh-Hans-CN", "zh"),
            ("FR-ca", "fr"),
            ("ko", "ko"),
            ("pt-BR", "en"),
        ],
    )
    async def test_a_regional_tag_gets_its_language(
        self, client: httpx.AsyncClient, asked: str, lang: str
    ) -> None:
        by_query = await client.get(FORM, params={"lang": asked})
        by_header = await client.get(FORM, headers={"Accept-Language": asked})
        assert by_query.status_code == 200
        assert by_query.json()["lang"] == by_header.json()["lang"] == lang
        assert by_query.json()["title"] == by_header.json()["title"]
        # Named in the query, the form does not depend on Accept-Language.
        assert "Accept-Language" not in by_query.headers["vary"]


class TestTheGatesAreRevalidated:
    async def test_the_tag_back_is_a_304_until_an_admin_adds_a_gate(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        first = await client.get(POINTS, headers=GZIP)
        assert first.headers["cache-control"] == "public, max-age=300"
        assert first.headers["vary"] == "Accept-Encoding"
        again = await revalidated(client, POINTS, first, **GZIP)
        assert again.status_code == 304
        assert again.content == b""
        assert validators(again) == validators(first)

        admin = await sign_in_staff(ctx, client, "admin")
        gate = {
            "id": "poe_test_gate",
            "name": "Cửa khẩu Thử",
            "name_en": "Test gate",
            "kind": "land",
            "province": 1,
        }
        added = await client.post(POINTS, json=gate, headers=admin)
        assert added.status_code == 201, added.text
        changed = await revalidated(client, POINTS, first, **GZIP)
        assert changed.status_code == 200
        assert "poe_test_gate" in {p["id"] for p in changed.json()["items"]}
        assert changed.headers["etag"] != first.headers["etag"]

    async def test_gzipped_and_plain_bytes_have_tags_of_their_own(
        self, client: httpx.AsyncClient
    ) -> None:
        plain = await client.get(POINTS, headers=PLAIN)
        packed = await client.get(POINTS, headers=GZIP)
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.json() == plain.json()
        assert packed.headers["etag"] != plain.headers["etag"]
        assert plain.headers["vary"] == packed.headers["vary"] == "Accept-Encoding"
        again = await revalidated(client, POINTS, plain, **PLAIN)
        assert again.status_code == 304
        assert validators(again) == validators(plain)
