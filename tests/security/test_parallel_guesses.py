"""One-time codes guessed in parallel. Reading the attempt count, comparing the code and
counting the attempt were three steps, so guesses sent at once all read "0 attempts" and
were all compared: far more than `otp_max_attempts` guesses per code. Each guess is now
counted for its address before the code is compared, and on the code by a compare-and-set
on the phone's codes (on SQLite and on MongoDB), so no more than `otp_max_attempts` guesses
from one address are ever judged, each counted once on the code."""

from __future__ import annotations

import asyncio

import httpx

from core.context import Context
from tests.conftest import TEST_PHONES

PHONE = "+84900000005"
RIGHT_CODE = TEST_PHONES[PHONE]
GUESSES = 40


def wrong_codes(n: int) -> list[str]:
    codes = [f"{(i * 7919 + 1) % 1_000_000:06d}" for i in range(n)]
    assert RIGHT_CODE not in codes
    return codes


class TestParallelGuesses:
    async def test_guesses_sent_at_once_are_judged_no_more_than_the_attempt_limit(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        limit = ctx.settings.otp_max_attempts
        assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        answers = await asyncio.gather(
            *(
                client.post("/v1/auth/token", json={"phone": PHONE, "otp": code})
                for code in wrong_codes(GUESSES)
            )
        )
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) <= {401, 429}, statuses
        # Each 401 is a guess compared and found wrong; the guess that used the address's
        # last attempt answers 429, as do all those counted beyond it, never compared.
        assert statuses.count(401) == limit - 1, statuses
        [stored] = await ctx.store.find("otps", {})
        assert [code["wrong"] for code in stored["codes"]] == [limit]
        right = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE})
        assert right.status_code == 429, right.text

    async def test_the_owner_among_parallel_guesses_still_signs_in_while_attempts_remain(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        """A guess that loses the race for an attempt reads the count again instead of
        failing, so the owner's right code is not refused because guesses came at once.
        With `limit - 1` wrong guesses beside it, the owner's code has an attempt left in
        whatever order the server takes them (which order is the scheduler's, not ours)."""
        limit = ctx.settings.otp_max_attempts
        assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        codes = [*wrong_codes(limit - 1), RIGHT_CODE]
        answers = await asyncio.gather(
            *(client.post("/v1/auth/token", json={"phone": PHONE, "otp": c}) for c in codes)
        )
        assert answers[-1].status_code == 200, answers[-1].text
        # No wrong guess signs in; those judged after the owner find the code used.
        assert {a.status_code for a in answers[:-1]} <= {401, 429}
        [stored] = await ctx.store.find("otps", {})
        assert stored["codes"] == []  # signed in: the phone's codes are spent
