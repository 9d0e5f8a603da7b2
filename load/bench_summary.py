"""The sentences printed under `khaibao bench`'s table: each compares rows of the same
run (the naive peer, the resolved no-op, FAQ search, the worklist, group commit)."""

from __future__ import annotations

from load.bench_results import PEER_TARGETS, Measurement, median_index, ms, peer_ratio, round_shares
from load.faq import ENTRIES as FAQ_ENTRIES
from load.inprocess.worklist import Seeded


def peer_line(
    found: dict[str, Measurement], by_round: dict[str, list[Measurement]] | None = None
) -> str:
    """Khaibao against the naive peer (load/naive.py), each pair measured back to back."""
    parts = []
    for key, peer, _, label in PEER_TARGETS:
        ratio = peer_ratio(found, by_round, key, peer)
        if ratio is not None:
            parts.append(f"{label} **{ratio[0]:.2f}×**")
    if not parts:
        return ""
    many = (
        " (median of the per-round ratios)"
        if by_round and len(by_round.get("noop", [])) > 1
        else ""
    )
    return f"Against the naive peer, same run, interleaved{many}: {'; '.join(parts)}.\n\n"


def resolved_line(
    found: dict[str, Measurement], by_round: dict[str, list[Measurement]] | None = None
) -> str:
    """Submit and scan against the no-op served the way they are (see load/inprocess/benchapp.py);
    after several rounds, the median of the per-round shares."""
    ceiling = found.get("noop_resolved")
    if ceiling is None or not ceiling.rps:
        return ""
    ceiling_rps = ceiling.rps

    def share(key: str) -> float:
        shares = round_shares(by_round or {}, key, "noop_resolved")
        return shares[median_index(shares)] if shares else found[key].rps / ceiling_rps

    shares = [
        f"{found[key].scenario} {share(key):.0%}" for key in ("submit", "scan") if key in found
    ]
    if not shares:
        return ""
    return f"Against the resolved no-op ({ceiling.rps:,.0f}/s): {', '.join(shares)}.\n\n"


def faq_line(found: dict[str, Measurement]) -> str:
    """Searches/s and p99 against the no-op of the same run."""
    row, ceiling = found.get("faq"), found.get("noop")
    if row is None or ceiling is None or not ceiling.rps:
        return ""
    latency = ""
    if row.p99_ms is not None and ceiling.p99_ms:
        latency = f", p99 {row.p99_ms:.1f} ms ({row.p99_ms / ceiling.p99_ms:.1f}× the no-op's)"
    return (
        f"FAQ search over {FAQ_ENTRIES:,} published answers: {row.rps:,.0f} searches/s "
        f"({row.rps / ceiling.rps:.0%} of the no-op){latency}.\n\n"
    )


def worklist_line(found: dict[str, Measurement], seeded: Seeded | None) -> str:
    """What was seeded, and each officer's rows/s and p99 against the no-op's."""
    ceiling = found.get("noop")
    if seeded is None:
        return ""
    parts = []
    for key, who in (("worklist", "Ward officer"), ("worklist_province", "province officer")):
        row = found.get(key)
        if row is None or row.rows_per_second is None:
            continue
        latency = f"p99 {ms(row.p99_ms)}"
        if ceiling is not None and ceiling.p99_ms and row.p99_ms is not None:
            latency += f" ({row.p99_ms / ceiling.p99_ms:.1f}× the no-op's)"
        parts.append(
            f"{who} {row.rps:,.0f} answers/s × {row.rows_per_answer:.0f} rows = "
            f"**{row.rows_per_second:,.0f} rows/s**, {latency}"
        )
    active = seeded.by_status["active"]
    return (
        f"Worklist over {seeded.episodes:,} monitoring episodes in {len(seeded.provinces)} "
        f"provinces and {len(seeded.wards):,} wards, seeded through the store in "
        f"{seeded.seconds:.0f} s: {active:,} active ({seeded.needing_attention:,} needing "
        f"attention), {seeded.by_status['closed']:,} closed; {seeded.active_in_ward:,} active "
        f"in the ward officer's ward, {seeded.active_in_province:,} in the province officer's "
        f"province (each answer also writes an audit entry per person shown)."
        + (f" {'; '.join(parts)}." if parts else "")
        + "\n\n"
    )


def group_commit_line(found: dict[str, Measurement], *, skipped: bool = False) -> str:
    on, off = found.get("submit_gc_on"), found.get("submit_baseline")
    if skipped:
        return "Group commit vs none: skipped on request (--no-baseline)."
    if on is None or off is None or off.rps == 0:
        return "Group commit vs none: not measured (MongoDB, or submit not available)."
    return (
        f"Group commit vs none at the same connections (fresh servers, ABBA, mean of two runs "
        f"each): {on.rps:,.0f}/s vs {off.rps:,.0f}/s = **{on.rps / off.rps:.1f}×**."
    )
