"""Message texts, in Vietnamese and English, each fitting one SMS.

Decision: every SMS is plain GSM-7 text, Vietnamese included, written without diacritics
("ma xac thuc", not "mã xác thực"). A single diacritic turns the whole message into UCS-2,
which holds 70 characters per segment instead of 160: the Vietnamese one-time-code text
would cost two or three segments, and each extra segment is another chance of arriving out
of order on the busiest day. Unaccented Vietnamese is what banks and carriers send for codes
in Vietnam and reads naturally to its recipients. The app itself shows the full text with
diacritics; the SMS only says what happened and where to look.

Parameters are checked before rendering: texts contain only values of known shape (digits,
a date, a status), never free text, so nothing a user typed ends up in a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

SMS_LIMIT = 160

# The GSM 03.38 default alphabet (basic set); extension characters are left out on purpose.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_CODE = re.compile(r"^[0-9]{4,8}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_OTP = {
    "vi": "Khaibao: ma xac thuc cua ban la {code}, het han sau {minutes} phut. "
    "Khong chia se ma nay cho bat ky ai.",
    "en": "Khaibao: your sign-in code is {code}. It expires in {minutes} minutes. "
    "Never share this code.",
}
_STATUS_WORD = {
    "vi": {"green": "XANH", "yellow": "VANG", "red": "DO"},
    "en": {"green": "GREEN", "yellow": "YELLOW", "red": "RED"},
}
_STATUS_CHANGE = {
    "vi": "Khaibao: tinh trang suc khoe cua ban da chuyen sang {status}. "
    "Mo ung dung Khaibao de xem ly do va huong dan.",
    "en": "Khaibao: your health status is now {status}. "
    "Open the Khaibao app to see why and what to do.",
}
_EXPOSURE = {
    "vi": "Khaibao: ban co the da tiep xuc voi ca benh ngay {day}. "
    "Hay theo doi suc khoe va lam theo huong dan trong ung dung Khaibao.",
    "en": "Khaibao: you may have been near a confirmed case on {day}. "
    "Watch for symptoms and follow the guidance in the Khaibao app.",
}

_QUESTION_UPDATE = {
    "vi": {
        "answered": "Khaibao: cau hoi cua ban da duoc tra loi. Mo ung dung Khaibao de xem.",
        "rejected": "Khaibao: cau hoi cua ban da duoc xu ly. Mo ung dung Khaibao de xem ly do.",
    },
    "en": {
        "answered": "Khaibao: your question has been answered. Open the Khaibao app to read it.",
        "rejected": "Khaibao: your question was closed. Open the Khaibao app to see why.",
    },
}
_REMINDER = {
    "vi": "Khaibao: hom nay ban chua bao cao suc khoe theo doi y te. "
    "Mo ung dung Khaibao de bao nhiet do va trieu chung.",
    "en": "Khaibao: you have not sent today's health report for your medical monitoring. "
    "Open the Khaibao app to report.",
}


class UnrenderableNotification(ValueError):
    """The stored parameters do not fit the kind: a bug in the caller, not a delivery
    problem, so it is not retried."""


def render(kind: str, locale: str, params: Mapping[str, Any]) -> str:
    lang = "vi" if locale == "vi" else "en"
    if kind == "otp":
        code = str(params.get("code", ""))
        minutes = params.get("minutes")
        if not _CODE.match(code) or not isinstance(minutes, int) or not 1 <= minutes <= 60:
            raise UnrenderableNotification("otp needs a numeric code and minutes")
        text = _OTP[lang].format(code=code, minutes=minutes)
    elif kind == "status_change":
        status = params.get("status")
        if status not in _STATUS_WORD[lang]:
            raise UnrenderableNotification("status_change needs a status")
        # reason_code is not rendered: reasons are the ministry's words, shown in the app.
        text = _STATUS_CHANGE[lang].format(status=_STATUS_WORD[lang][str(status)])
    elif kind == "exposure":
        try:
            day = date.fromisoformat(str(params.get("day")))
        except ValueError:
            raise UnrenderableNotification("exposure needs day as YYYY-MM-DD") from None
        shown = (
            f"{day.day:02d}/{day.month:02d}/{day.year}"
            if lang == "vi"
            else f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
        )
        text = _EXPOSURE[lang].format(day=shown)
    elif kind == "question_update":
        # The answer itself is never in the SMS: it may be long, and it is read in the app.
        outcome = params.get("outcome")
        if outcome not in _QUESTION_UPDATE[lang]:
            raise UnrenderableNotification("question_update needs an outcome")
        text = _QUESTION_UPDATE[lang][str(outcome)]
    elif kind == "monitoring_reminder":
        text = _REMINDER[lang]
    else:
        raise UnrenderableNotification("unknown kind")
    return text


def is_single_gsm7_sms(text: str) -> bool:
    return len(text) <= SMS_LIMIT and all(char in _GSM7 for char in text)
