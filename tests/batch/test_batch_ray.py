"""Ray tasks on a local Ray instance (no separate server) give the same results as the local pool."""

from __future__ import annotations

import json

from conftest import synthetic_rows, write_csv

from magplus.batch.runner import run_batch


def test_ray_matches_the_local_pool(tmp_path):
    import ray  # noqa: F401 - the 'ray' extra; `make test` installs it, so this test always runs there
    write_csv(tmp_path / "m.csv", synthetic_rows([0]))
    pool = run_batch(tmp_path / "m.csv", tmp_path / "pool", workers=2, threads=1, progress=False)
    ray = run_batch(tmp_path / "m.csv", tmp_path / "ray", ray=True, ray_address="local", threads=1, progress=False,
                    ray_init={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False})
    assert (pool.done, pool.failed, ray.done, ray.failed) == (2, 0, 2, 0)
    for video in sorted((tmp_path / "pool").rglob("*.mp4")):
        twin = tmp_path / "ray" / video.relative_to(tmp_path / "pool")
        assert video.read_bytes() == twin.read_bytes(), video  # same frames, same encoder: same bytes
    for record in sorted((tmp_path / "pool" / "records").glob("*.mp4.json")):
        a = json.loads(record.read_text())
        b = json.loads((tmp_path / "ray" / record.relative_to(tmp_path / "pool")).read_text())
        assert (a["alpha"], a["metrics"], a["curves"]) == (b["alpha"], b["metrics"], b["curves"])
        assert a["pid"] != b["pid"]  # really run elsewhere
