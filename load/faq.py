"""The FAQ search row of `khaibao bench`: what people type into the search, as requests.

The 10,000 published answers it searches are seeded through the store, in-process
(`load.inprocess.faq`); the searches are typed the way people type them, mostly without
diacritics.
"""

from __future__ import annotations

from urllib.parse import quote

ENTRIES = 10_000  # published answers the bench seeds (load.inprocess.faq)

SEARCHES = (
    "khai bao y te",
    "khai bao ho bo me",
    "ma qr",
    "lay ma QR o dau",
    "xet nghiem nhanh",
    "cach ly tai nha bao lau",
    "dang ky tiem chung",
    "tiem mui nhac lai",
    "di lai giua cac tinh",
    "nhap canh can giay to gi",
    "doi so dien thoai",
    "Khai báo y tế ở Hà Nội",
    "Đăng ký tiêm chủng cho người cao tuổi",
    "xét nghiệm PCR có mất phí không",
    "sinh vien",
    "tai xe xe khach cach ly",
    "giao vien",
    "da nang",
    "can tho xet nghiem",
    "QR code",
)


def search_paths() -> list[str]:
    return [f"/v1/faq?q={quote(text)}" for text in SEARCHES]
