"""The public answer base: search without diacritics or case, categories, one entry, caching,
and the page served with its own assets."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.clock import new_id, utcnow
from core.context import Context
from questions import repository


async def publish(ctx: Context, title: str, answer: str, category: str = "declaration") -> str:
    """A published entry as a responder's publishing writes it."""
    entry_id = new_id("faq")
    await ctx.store.write(
        [
            repository.insert_faq(
                {
                    "_id": entry_id,
                    "category": category,
                    "title": title,
                    "question": title,
                    "answer": answer,
                    "published_at": utcnow() - timedelta(minutes=len(title)),
                }
            )
        ]
    )
    return entry_id


async def titles(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get("/v1/faq", params=params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


class TestSearch:
    async def test_diacritics_and_case_do_not_matter(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await publish(ctx, "Khai báo y tế là gì?", "Là việc kê khai tình trạng sức khoẻ.")
        await publish(ctx, "Lấy mã QR ở đâu?", "Trong ứng dụng.", category="qr_code")
        await publish(ctx, "Đăng ký tiêm chủng", "Tại trạm y tế phường.", category="vaccination")
        assert (await titles(client, q="khai bao y te"))[0] == "Khai báo y tế là gì?"
        assert (await titles(client, q="KHAI BÁO Y TẾ"))[0] == "Khai báo y tế là gì?"
        assert await titles(client, q="khai bao") == ["Khai báo y tế là gì?"]
        assert await titles(client, q="ma QR") == ["Lấy mã QR ở đâu?"]
        assert await titles(client, q="dang ky tiem") == ["Đăng ký tiêm chủng"]
        assert await titles(client, q="tram phuong") == ["Đăng ký tiêm chủng"]  # in the answer
        assert await titles(client, q="y te", category="vaccination") == ["Đăng ký tiêm chủng"]
        assert await titles(client, q="xe buyt") == []

    async def test_without_words_the_newest_answers_come_first(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await publish(ctx, "Một câu hỏi khá dài", "a")
        await publish(ctx, "Ngắn", "b", category="travel")
        assert await titles(client) == ["Ngắn", "Một câu hỏi khá dài"]
        assert await titles(client, q="  ") == ["Ngắn", "Một câu hỏi khá dài"]
        assert await titles(client, category="travel") == ["Ngắn"]


class TestCaching:
    async def test_answers_are_cacheable_and_revalidate(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        entry_id = await publish(ctx, "Khai báo y tế là gì?", "Là việc kê khai.")
        for url in ("/v1/faq?q=khai+bao", f"/v1/faq/{entry_id}"):
            first = await client.get(url)
            assert first.status_code == 200
            assert first.headers["cache-control"].startswith("public, max-age=")
            etag = first.headers["etag"]
            again = await client.get(url, headers={"If-None-Match": etag})
            assert again.status_code == 304
            assert again.content == b""
        one = (await client.get(f"/v1/faq/{entry_id}")).json()
        assert one["title"] == "Khai báo y tế là gì?"
        await publish(ctx, "Khai báo hộ", "Được.")
        changed = await client.get("/v1/faq?q=khai+bao", headers={"If-None-Match": etag})
        assert changed.status_code == 200


class TestPage:
    async def test_the_page_and_its_assets_are_served_by_the_service(
        self, client: httpx.AsyncClient
    ) -> None:
        page = await client.get("/hoi-dap")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        html = page.text
        assert '<html lang="vi">' in html
        assert "Hỏi đáp" in html
        assert "Questions and answers" in html
        assert "http://" not in html
        assert "https://" not in html
        for name in ("hoi-dap.js", "hoi-dap.css"):
            start = html.index(f"/hoi-dap/static/{name}?v=")
            url = html[start : html.index('"', start)]
            asset = await client.get(url)
            assert asset.status_code == 200
            assert "immutable" in asset.headers["cache-control"]
            assert "http" not in asset.text
        assert (await client.get("/hoi-dap/static/../../pyproject.toml")).status_code == 404
        assert (await client.get("/hoi-dap/static/secret.py")).status_code == 404


class TestRevalidation:
    async def test_weak_and_wildcard_tags_revalidate_as_rfc_9110_says(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        # Proxies that recompress send the tag back weak; `*` asks "anything current?".
        await publish(ctx, "Khai báo y tế là gì?", "Là khai báo sức khỏe.")
        first = await client.get("/v1/faq?q=khai+bao")
        etag = first.headers["etag"]
        for sent in (f"W/{etag}", "*", f'"other", {etag}'):
            again = await client.get("/v1/faq?q=khai+bao", headers={"If-None-Match": sent})
            assert again.status_code == 304, sent
        stale = await client.get("/v1/faq?q=khai+bao", headers={"If-None-Match": 'W/"other"'})
        assert stale.status_code == 200
