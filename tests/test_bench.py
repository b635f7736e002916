"""The benchmark at tiny sizes, so that it cannot rot. It measures nothing."""

import subprocess
import sys

from scripts import ROOT


def test_benchmark_runs_and_prints_its_table(broker):
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "bench.py", "--smoke", "--url", broker.url],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert table[0] == "| measure | ours | reference | ratio | target |"
    measures = [row.split(" | ")[0].lstrip("| ") for row in table[2:]]
    for number in "1234567":
        assert any(m.startswith(number) for m in measures), (number, measures)
    # The drain's references (pika's floor, the tutorial's; amqplib where installed) and the publisher's ceiling.
    assert "reference: pika's floor" in measures[0], measures
    assert any(m.startswith("1. … the tutorial's worker") for m in measures), measures
    assert any(m.startswith("7.") and "minimal_publisher.py" in m for m in measures), measures
    # Tiny sizes say nothing about the targets, and the table says so.
    targets = {row.split("|")[-2].strip() for row in table[2:]}
    assert targets <= {"", "(smoke run: not a measurement)"}, targets
    assert "SMOKE RUN" in result.stdout
    assert "RabbitMQ " in result.stdout and "pika " in result.stdout


def test_fair_dispatch_picture_is_drawn(broker, tmp_path):
    picture = tmp_path / "fair-dispatch.png"
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "fair_dispatch_picture.py", "--smoke", "--url", broker.url, picture],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    spans = [line for line in result.stdout.splitlines() if ": makespan " in line]
    assert [line.split(":")[0] for line in spans] == ["prefetch 1 (the default)", "prefetch 0"], result.stdout


def test_compare_runs_two_checkouts_side_by_side(broker):
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "compare.py", "--smoke", "--url", broker.url, ROOT],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    ratios = [line for line in result.stdout.splitlines() if line.startswith("  this / other: ")]
    # The drain's at prefetch 1 and 50, new_task.py's per call and from standard input.
    assert len(ratios) == 4, result.stdout
