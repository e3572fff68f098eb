"""Small benchmark folders in each dataset's official layout (w2s.benchmarks cites the sources):
made-up rows, each pointing at a real clip (a symlink to it under the dataset's own file name).

Every builder takes (root, clips, mos) and returns the rows a loader must give: uri, mos, group.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd


def _link(clip: str, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.symlink(os.path.abspath(clip), dest)
    return str(dest)


def _rows(uris, mos, groups=None) -> pd.DataFrame:
    return pd.DataFrame({"uri": uris, "mos": np.asarray(mos, float),
                         "group": list(groups) if groups is not None else [""] * len(uris)})


def konvid_1k(root: Path, clips, mos):
    ids = [3337642103 + 1000 * i for i in range(len(clips))]
    uris = [_link(c, root / "KoNViD_1k_videos" / f"{i}.mp4") for c, i in zip(clips, ids, strict=True)]
    pd.DataFrame({"flickr_id": ids, "file_name": [f"{i}_original_centercrop_960x540_8s.mp4" for i in ids],
                  "MOS": mos, "SD": 0.5}).to_csv(root / "KoNViD_1k_attributes.csv", index=False)
    return _rows(uris, mos)


def live_vqc(root: Path, clips, mos):
    from scipy import io as sio

    names = [f"A{i + 1:03d}.mp4" for i in range(len(clips))]
    uris = [_link(c, root / "Video" / n) for c, n in zip(clips, names, strict=True)]
    sio.savemat(root / "data.mat", {"video_list": np.array(names, dtype=object).reshape(-1, 1),
                                    "mos": np.asarray(mos, float).reshape(-1, 1)})
    return _rows(uris, mos)


def youtube_ugc(root: Path, clips, mos):
    cats = ["Gaming", "Sports", "Vlog", "Gaming", "HowTo", "Sports"][: len(clips)]
    res = [360, 480, 720, 1080, 2160, 360][: len(clips)]
    vids = [f"{c}_{r}P-{i:02x}a1" for i, (c, r) in enumerate(zip(cats, res, strict=True))]
    uris = [_link(clip, root / "original_videos" / c / f"{r}P" / f"{v}.mkv")
            for clip, c, r, v in zip(clips, cats, res, vids, strict=True)]
    main = pd.DataFrame({"vid": vids, "category": cats, "resolution": res, "MOS full": mos,
                         "MOS chunk00": mos, "x_Subjects": 100})
    unrated = pd.DataFrame({"vid": ["VR_1080P-0000"], "category": ["VR"], "resolution": [1080],
                            "MOS full": [np.nan], "MOS chunk00": [np.nan], "x_Subjects": [0]})
    with pd.ExcelWriter(root / "original_videos_MOS_for_YouTube_UGC_dataset.xlsx") as w:
        pd.DataFrame({"vid": vids, "other": 1.0}).to_excel(w, sheet_name="diff2", index=False)
        pd.concat([main, unrated]).to_excel(w, sheet_name="MOS", index=False)
    return _rows(uris, mos, cats)


def _lsvq_names(n: int, batch: str) -> list[str]:
    return [f"{batch}-batch{1 + i % 2}/{747 + i}" for i in range(n)]


def lsvq_test(root: Path, clips, mos):
    names = _lsvq_names(len(clips) + 2, "yfcc")
    is_test = [True] * len(clips) + [False, False]  # two training rows: not part of the test set
    full_mos = list(mos) + [50.0, 60.0]
    uris = [_link(clips[i % len(clips)], root / f"{n}.mp4") for i, n in enumerate(names)]
    cols = {"name": names, "p1": 0, "height": 540, "width": 960, "mos_p1": full_mos, "mos": full_mos,
            "frame_number": 240, "is_test": is_test, "is_valid": True}
    pd.DataFrame(cols).to_csv(root / "labels_train_test.csv", index=False)
    return _rows(uris[: len(clips)], mos, [n.split("/")[0] for n in names[: len(clips)]])


def lsvq_1080p(root: Path, clips, mos):
    names = _lsvq_names(len(clips), "ia")
    uris = [_link(c, root / f"{n}.mp4") for c, n in zip(clips, names, strict=True)]
    pd.DataFrame({"name": names, "p1": 0, "height": 1080, "width": 1920, "mos": mos, "is_valid": True}).to_csv(
        root / "labels_test_1080p.csv", index=False)
    return _rows(uris, mos, [n.split("/")[0] for n in names])


def live_yt_gaming(root: Path, clips, mos):
    files = [f"{g}-{i + 1:03d}.mp4" for i, g in enumerate(["AgeEmpires", "Fortnite", "AgeEmpires", "Minecraft"][: len(clips)])]
    uris = [_link(c, root / f) for c, f in zip(clips, files, strict=True)]
    pd.DataFrame({"File": files, "MOS": mos, "width": 1280, "height": 720, "framerate": 60}).to_csv(
        root / "LIVE-YT-Gaming_metadata.csv", index=False)
    return _rows(uris, mos, [f.split("-")[0] for f in files])


def cgvds(root: Path, clips, mos):
    games = ["Bejeweled3", "GTA5", "Fortnite", "GTA5"][: len(clips)]
    files = [f"{g}_30s_1280x720_60_{1000 * (i + 1)}_h264_nvenc.mp4" for i, g in enumerate(games)]
    uris = [_link(c, root / f) for c, f in zip(clips, files, strict=True)]
    (root / "MOS information").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"File": files, "VQ_EC": 4.0, "VF_EC": 4.0, "VQ_ACR": mos, "VF_ACR": 3.0, "Content": games}).to_excel(
        root / "MOS information" / "CGVDS_subjective_scores.xlsx", index=False)
    return _rows(uris, mos, games)


def live_yt_hfr(root: Path, clips, mos):
    names = [f"{c}_crf_{10 * i}_{fps}fps" for i, (c, fps) in
             enumerate(zip(["1Runner", "books", "1Runner", "hamster"], [24, 60, 120, 30], strict=True))][: len(clips)]
    uris = [_link(c, root / n.split("_")[0] / f"{n}.webm") for c, n in zip(clips, names, strict=True)]
    (root / "subjective_scores").mkdir(parents=True, exist_ok=True)
    lines = ["File Names," + ",".join(names), "MOS," + ",".join(map(str, mos)), "std," + ",".join(["12.5"] * len(names))]
    (root / "subjective_scores" / "subject_MOS.csv").write_text("\n".join(lines) + "\n")
    return _rows(uris, mos, [n.split("_")[0] for n in names])


def waterloo_ivc_4k(root: Path, clips, mos):
    rows = [("HEVC", 1, "540p", 1), ("AV1", 2, "1080p", 3), ("VP9", 12, "2160p", 4), ("H264", 1, "1080p", 2)][: len(clips)]
    size = {"540p": "960x540", "1080p": "1920x1080", "2160p": "3840x2160"}
    uris = [_link(c, root / e / f"{n:02d}" / f"{size[r]}_{lv}.mp4") for c, (e, n, r, lv) in zip(clips, rows, strict=True)]
    (root / "scores.txt").write_text("".join(f"{e}, {n}, {r}, {lv}, {m}\n" for (e, n, r, lv), m in zip(rows, mos, strict=True)))
    return _rows(uris, mos, [r[0] for r in rows])


def kvq(root: Path, clips, mos):
    names = [f"test/{i + 1:04d}.mp4" for i in range(len(clips))]
    uris = [_link(c, root / n) for c, n in zip(clips, names, strict=True)]
    pd.DataFrame({"filename": names, "score": mos}).to_csv(root / "test_data.csv", index=False)
    return _rows(uris, mos)


BUILDERS = {"konvid-1k": konvid_1k, "live-vqc": live_vqc, "youtube-ugc": youtube_ugc, "lsvq-test": lsvq_test,
            "lsvq-1080p": lsvq_1080p, "live-yt-gaming": live_yt_gaming, "cgvds": cgvds,
            "live-yt-hfr": live_yt_hfr, "waterloo-ivc-4k": waterloo_ivc_4k, "kvq": kvq}
