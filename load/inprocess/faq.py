"""The 10,000 published answers the FAQ search row of `khaibao bench` searches.

Seeding takes a documented fast path, like `load.inprocess.bench_reports`: the published
answers are written through the storage port exactly as publishing writes them
(`questions.repository.insert_faq`, each with its text index entries), in batches, into the
running server's database. Through the API the same base would take 20,000 requests and
2,000 citizen accounts (the daily question limit), and would benchmark asking instead.

The entries are generated from Vietnamese phrases about declarations, QR codes, testing,
quarantine, vaccination and travel, so a search matches a realistic share of them (the searches
are in `load.faq`).
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from core.clock import utcnow
from core.settings import Settings
from core.storage import Operation
from core.storage.factory import open_store
from load.faq import ENTRIES
from load.inprocess.store import settings_for
from questions import repository
from questions.schemas import CATEGORIES

_BATCH = 250

_WHO = (
    "Tôi",
    "Bố mẹ tôi",
    "Con tôi",
    "Người cao tuổi",
    "Công nhân",
    "Sinh viên",
    "Người nước ngoài",
    "Tài xế xe khách",
    "Tiểu thương",
    "Giáo viên",
)
_WHAT = (
    ("declaration", "khai báo y tế"),
    ("declaration", "khai báo hộ người thân"),
    ("declaration", "sửa tờ khai"),
    ("qr_code", "lấy mã QR"),
    ("qr_code", "quét mã QR"),
    ("qr_code", "in mã QR"),
    ("testing", "xét nghiệm nhanh"),
    ("testing", "xét nghiệm PCR"),
    ("quarantine", "cách ly tại nhà"),
    ("quarantine", "cách ly tập trung"),
    ("vaccination", "đăng ký tiêm chủng"),
    ("vaccination", "tiêm mũi nhắc lại"),
    ("travel", "đi lại giữa các tỉnh"),
    ("travel", "nhập cảnh"),
    ("other", "đổi số điện thoại"),
)
_HOW = (
    "ở đâu",
    "thế nào",
    "có bắt buộc không",
    "mất bao lâu",
    "cần giấy tờ gì",
    "có mất phí không",
    "khi nào",
    "được không",
)
_WHERE = (
    "Hà Nội",
    "Hải Phòng",
    "Đà Nẵng",
    "Huế",
    "Thành phố Hồ Chí Minh",
    "Cần Thơ",
    "Quảng Ninh",
    "Nghệ An",
    "Khánh Hòa",
    "Lâm Đồng",
    "Đồng Nai",
    "An Giang",
)


def entry(number: int, rng: random.Random) -> dict[str, object]:
    """One published answer, shaped as `questions.publishing` builds it."""
    who, (category, what), how, where = (
        rng.choice(_WHO),
        rng.choice(_WHAT),
        rng.choice(_HOW),
        rng.choice(_WHERE),
    )
    title = f"{who} {what} tại {where} {how}?"
    assert category in CATEGORIES
    return {
        "_id": f"faq_BENCH{number:021d}",
        "category": category,
        "title": title,
        "question": f"{title} Câu hỏi số {number} gửi qua ứng dụng.",
        "answer": (
            f"Về việc {what}: làm theo hướng dẫn của Sở Y tế {where}, mục {what} trong ứng "
            f"dụng Khaibao. Gọi đường dây nóng 1900 9095 nếu cần hỗ trợ."
        ),
        "published_at": utcnow() - timedelta(minutes=number),
    }


async def seed_faq(settings: Settings, count: int = ENTRIES, seed: int = 2021) -> None:
    store = open_store(settings)
    await store.start(repository.SPECS)
    rng = random.Random(seed)
    try:
        for first in range(0, count, _BATCH):
            ops: list[Operation] = [
                repository.insert_faq(entry(n, rng))
                for n in range(first, min(count, first + _BATCH))
            ]
            await store.write(ops)
    finally:
        await store.close()


def seed_faq_sync(env: dict[str, str], count: int = ENTRIES) -> None:
    """Into the database of the server started with `env`."""
    asyncio.run(seed_faq(settings_for(env), count))
