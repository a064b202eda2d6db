"""The report renders without a display, links every PNG it wrote, and each PNG decodes."""

import html.parser

import numpy as np
from PIL import Image

from bmp_ray.cli import main
from bmp_ray.export import output_name
from bmp_ray.report.stats import collect
from tests.export.runs import BAD, FRAMES, IMAGE, VIDEO, tracked_copy, untracked_copy


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def _report(out, dest, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    assert main(["report", str(out), "--out", str(dest)]) == 0
    page = (dest / "index.html").read_text()
    parser = _Images()
    parser.feed(page)
    return page, parser.srcs


def test_report_links_every_png_and_each_decodes(small_run, tmp_path, monkeypatch):
    page, srcs = _report(small_run, tmp_path, monkeypatch)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert sorted(srcs) == pngs and len(pngs) == 4  # scores, track lengths, people per frame of two inputs
    assert f"people_{output_name(VIDEO)}.png" in pngs and "track_lengths.png" in pngs
    for name in pngs:
        with Image.open(tmp_path / name) as im:
            im.load()
            assert im.format == "PNG" and im.size[0] > 100 and np.asarray(im).std() > 0
    assert BAD in page and "not" in page.split(BAD, 1)[1][:500]  # the failed input with its error
    assert "rtmdet" in page and "&quot;stride&quot;: 2" in page


def test_an_untracked_output_says_so(small_run, tmp_path, monkeypatch):
    page, srcs = _report(untracked_copy(small_run, tmp_path / "untracked"), tmp_path / "report", monkeypatch)
    assert "No track ids in this output" in page and "track_lengths.png" not in srcs and len(srcs) == 3


def test_track_lengths_when_tracked(small_run, tmp_path, monkeypatch):
    copy = tracked_copy(small_run, tmp_path / "tracked")
    page, srcs = _report(copy, tmp_path / "report", monkeypatch)
    assert "track_lengths.png" in srcs and (tmp_path / "report" / "track_lengths.png").is_file()
    stats = collect(str(copy))
    video = next(v for v in stats.videos if v.video_id == VIDEO)
    assert video.track_lengths[10] == len(FRAMES)


def test_stats_count_people_per_iteration(small_run):
    stats = collect(str(small_run))
    assert [v.video_id for v in stats.videos] == sorted([VIDEO, IMAGE])
    assert [r["video_id"] for r in stats.failed] == [BAD]
    video = next(v for v in stats.videos if v.video_id == VIDEO)
    assert len(video.pts_s) == len(FRAMES)
    assert sum(int(p.sum()) for v in stats.videos for p in v.people.values()) == stats.people
    assert {k: int(h.sum()) for k, h in stats.hist.items()} == {k: stats.people for k in stats.hist}


def test_report_of_a_missing_folder_exits_2(tmp_path, caplog):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "is not a bmp_ray output folder" in caplog.text
