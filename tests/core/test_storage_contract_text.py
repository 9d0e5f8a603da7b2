"""The storage contract, text search: the same words find the same documents, and the text
index follows writes. Run unchanged on SQLite (a real file) and MongoDB (a real server when
KHAIBAO_TEST_MONGODB_URL is set, else the wire-protocol stand-in driven by the real PyMongo
async client), through the `store` fixture of conftest.py."""

from __future__ import annotations

import asyncio

import pytest

from core.storage import Delete, DuplicateKey, Insert, Store, Update


def answer(n: int, title: str, body: str = "", **fields: object) -> dict[str, object]:
    return {"_id": f"a{n}", "title": title, "body": body, "category": "qr", "state": "on", **fields}


async def ids(store: Store, text: str, **options: object) -> list[str]:
    found = await store.search("answers", text, **options)  # type: ignore[arg-type]
    return [d["_id"] for d in found]


class TestTextSearch:
    """`Store.search`: the same words find the same documents on every adapter. Only
    orderings every reasonable relevance measure agrees on are asserted; the scores
    themselves differ (bm25 on SQLite, textScore on MongoDB)."""

    async def test_diacritics_case_and_d_with_stroke_are_ignored_both_ways(
        self, store: Store
    ) -> None:
        await store.write(
            [
                Insert("answers", answer(1, "Khai báo y tế", "Điền tờ khai trên ứng dụng")),
                Insert("answers", answer(2, "Mã QR là gì?", "Mã dùng để quét")),
                Insert("answers", answer(3, "dang ky tiem chung", "khong dau")),
            ]
        )
        assert await ids(store, "khai bao y te") == ["a1"]
        assert await ids(store, "KHAI BÁO Y TẾ") == ["a1"]
        assert await ids(store, "ma QR") == ["a2"]
        assert await ids(store, "dien") == ["a1"]  # Điền, in the body
        assert await ids(store, "ĐĂNG KÝ") == ["a3"]  # folded query, plain text
        assert await ids(store, "kha") == []  # whole words only

    async def test_every_vietnamese_vowel_folds_to_its_base_letter(self, store: Store) -> None:
        vowels = {
            "a": "aàáảãạăằắẳẵặâầấẩẫậ",
            "e": "eèéẻẽẹêềếểễệ",
            "o": "oòóỏõọôồốổỗộơờớởỡợ",
            "u": "uùúủũụưừứửữự",
            "y": "yỳýỷỹỵ",
            "i": "iìíỉĩị",
        }
        docs = [
            answer(n, " ".join(f"x{v}x" for v in letters + letters.upper()))
            for n, letters in enumerate(vowels.values())
        ]
        await store.write([Insert("answers", d) for d in docs])
        for n, base in enumerate(vowels):
            assert await ids(store, f"x{base}x") == [f"a{n}"]

    async def test_more_of_the_words_and_words_in_the_title_rank_first(self, store: Store) -> None:
        filler = " ".join(["thông tin chung"] * 3)
        await store.write(
            [
                Insert("answers", answer(1, "Khai báo", f"{filler} hộ")),
                Insert("answers", answer(2, "Tôi khai báo hộ bố mẹ được không?", filler)),
                Insert("answers", answer(3, "Bố mẹ", filler)),
                Insert("answers", answer(4, "Lịch tiêm", f"{filler} bố")),
                Insert("answers", answer(5, "Bố", filler)),
            ]
        )
        found = await ids(store, "khai bao ho bo me")
        assert found[0] == "a2"
        assert set(found) == {"a1", "a2", "a3", "a4", "a5"}
        # The same word in a title (weight 3) outranks it in a body of the same length.
        assert (await ids(store, "bo"))[-1] == "a4"

    async def test_filter_and_limit(self, store: Store) -> None:
        await store.write(
            [
                Insert("answers", answer(1, "Mã QR", state="off")),
                Insert("answers", answer(2, "Mã QR cá nhân", category="other")),
                Insert("answers", answer(3, "Quét mã QR")),
                Insert("answers", answer(4, "Mã QR")),
            ]
        )
        assert set(await ids(store, "ma qr", where={"state": "on"})) == {"a2", "a3", "a4"}
        assert await ids(store, "ma qr", where={"state": "on", "category": "other"}) == ["a2"]
        assert len(await ids(store, "ma qr", limit=2)) == 2
        assert await ids(store, "ma qr", where={"_id": {"$in": ["a1", "a9"]}}) == ["a1"]

    async def test_documents_read_back_as_written(self, store: Store) -> None:
        written = answer(1, "Đăng ký", "Nội dung")
        await store.write([Insert("answers", written)])
        assert await store.search("answers", "dang ky") == [written]
        assert await store.get("answers", "a1") == written
        assert await store.find("answers", {}) == [written]

    async def test_a_query_without_words_finds_nothing(self, store: Store) -> None:
        await store.write([Insert("answers", answer(1, "Khai báo"))])
        for text in ("", "   ", "?!", '"-*', "NEAR(", "title:khai"):
            found = await ids(store, text)
            assert found in ([], ["a1"])  # `title:khai` is the word khai, nothing else
        assert await ids(store, "") == []
        assert await ids(store, '"-*') == []


class TestTextIndexFollowsWrites:
    """The index changes in the same atomic batch as the document it describes."""

    async def test_updates_move_a_document_to_its_new_words(self, store: Store) -> None:
        await store.write([Insert("answers", answer(1, "Khai báo"))])
        await store.write([Update("answers", "a1", set={"title": "Đăng ký", "state": "off"})])
        assert await ids(store, "khai") == []
        assert await ids(store, "dang ky") == ["a1"]
        await store.write([Update("answers", "a1", set={"state": "on"})])  # words unchanged
        assert await ids(store, "dang ky", where={"state": "on"}) == ["a1"]
        await store.write([Update("answers", "a1", set={"body": "Tiêm chủng"})])
        assert await ids(store, "tiem") == ["a1"]
        assert await ids(store, "dang") == ["a1"]

    async def test_upsert_and_delete(self, store: Store) -> None:
        await store.write(
            [
                Update(
                    "answers",
                    "a7",
                    set={"title": "Cách ly"},
                    set_on_insert={"body": "tại nhà"},
                    upsert=True,
                )
            ]
        )
        assert await ids(store, "cach ly tai nha") == ["a7"]
        await store.write([Delete("answers", {"_id": "a7"})])
        assert await ids(store, "cach ly") == []
        await store.write([Insert("answers", answer(7, "Xét nghiệm"))])  # the id again
        assert await ids(store, "xet nghiem") == ["a7"]
        assert await ids(store, "cach ly") == []

    async def test_a_failed_batch_leaves_no_words_behind(self, store: Store) -> None:
        await store.write([Insert("answers", answer(1, "Khai báo"))])
        with pytest.raises(DuplicateKey):
            await store.write(
                [
                    Update("answers", "a1", set={"title": "Cách ly"}),
                    Insert("answers", answer(2, "Tiêm chủng")),
                    Insert("answers", answer(1, "Trùng")),
                ]
            )
        assert await ids(store, "khai bao") == ["a1"]
        assert await ids(store, "cach ly tiem chung trung") == []

    async def test_many_concurrent_batches_are_all_found(self, store: Store) -> None:
        batches = [[Insert("answers", answer(n, f"Câu hỏi số {n}", "về mã QR"))] for n in range(60)]
        await asyncio.gather(*(store.write(b) for b in batches))
        await store.write([Delete("answers", {"_id": {"$in": [f"a{n}" for n in range(30)]}})])
        assert len(await ids(store, "ma qr", limit=100)) == 30
        assert await ids(store, "so 45") == ["a45"] or "a45" in await ids(store, "so 45")
