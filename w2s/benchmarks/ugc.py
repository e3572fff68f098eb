"""Loaders of the five in-domain benchmarks (user-generated content): KoNViD-1k, LIVE-VQC,
YouTube-UGC, LSVQ test and LSVQ test-1080p. Each reads the dataset's own label file, as
the public evaluation code of the field reads it (sources cited per loader)."""

from __future__ import annotations

from w2s import uri
from w2s.benchmarks._read import (
    BenchmarkError,
    column,
    find,
    frame,
    mat_strings,
    need,
    read_csv,
    read_mat,
    read_xlsx,
)


def konvid_1k(root: str, label_file: str | None = None):
    """KoNViD-1k (1200 videos, MOS 1-5, no official groups).

    Layout: <root>/KoNViD_1k_attributes.csv (or KoNViD_1k_mos.csv, or either inside
    KoNViD_1k_metadata/) with `flickr_id` and `MOS` (or `mos`); videos
    <root>/KoNViD_1k_videos/<flickr_id>.mp4.
    Source: the VSFA-style reader in uniqzheng/HFR-BVQA src/data/data_info_maker.m
    (`data.MOS`), vztu/VIDEVAL features/KONVID_1K_metadata.csv and
    demo_compute_VIDEVAL_feats.m (`KoNViD_1k_videos/<flickr_id>.mp4`).
    """
    path = label_file or find(root, ["KoNViD_1k_attributes.csv", "KoNViD_1k_metadata/KoNViD_1k_attributes.csv",
                                     "KoNViD_1k_mos.csv", "KoNViD_1k_metadata/KoNViD_1k_mos.csv"],
                              "KoNViD-1k label file")
    df = read_csv(path)
    need(df, ["flickr_id"], path)
    mos = column(df, ["MOS", "mos"], path)
    ids = df["flickr_id"].astype("int64").astype(str)
    return frame([uri.join(root, "KoNViD_1k_videos", f"{i}.mp4") for i in ids], df[mos], video=ids, source=path)


def live_vqc(root: str, label_file: str | None = None):
    """LIVE-VQC (585 videos, MOS 0-100, no official groups).

    Layout: <root>/data.mat (MATLAB v5: `video_list` cell of names such as A001.mp4,
    `mos`); videos <root>/Video/<name>.
    Source: the database's data.mat as copied verbatim in winwinwenwen77/ModularBVQA
    data/LiveVQC_data.mat; the reader in sunwei925/MinimalisticVQA data_loader.py
    (`dataInfo['video_list'][i][0][0]`, `dataInfo['mos'][i][0]`).
    """
    path = label_file or find(root, ["data.mat"], "LIVE-VQC label file")
    mat = read_mat(path)
    for k in ("video_list", "mos"):
        if k not in mat:
            raise BenchmarkError(f"{path}: no variable {k!r} (has {', '.join(x for x in mat if not x.startswith('__'))})")
    names = mat_strings(mat["video_list"])
    mos = mat["mos"].ravel()
    if len(mos) != len(names):
        raise BenchmarkError(f"{path}: {len(names)} names but {len(mos)} MOS values")
    return frame([uri.join(root, "Video", n) for n in names], mos, video=names, source=path)


def youtube_ugc(root: str, label_file: str | None = None):
    """YouTube-UGC (1380 rated videos, MOS 1-5, grouped by content category).

    Layout: <root>/original_videos_MOS_for_YouTube_UGC_dataset.xlsx, sheet `MOS` with
    `vid`, `category`, `resolution`, `MOS full`; videos
    <root>/original_videos/<category>/<resolution>P/<vid>.mkv (the original release).
    Source: pandas readers of that workbook (`sheet_name="MOS"`, columns vid, category,
    "MOS full"), and vztu/VIDEVAL demo_compute_VIDEVAL_feats.m for the folder layout.
    """
    path = label_file or find(root, ["original_videos_MOS_for_YouTube_UGC_dataset.xlsx"],
                              "YouTube-UGC label file")
    df = read_xlsx(path, "MOS")
    need(df, ["vid", "category", "resolution", "MOS full"], path)
    df = df[df["MOS full"].notna()]  # rows without a rating (e.g. VR) are not part of the benchmark
    res = df["resolution"].astype(str).str.upper().str.removesuffix("P")
    uris = [uri.join(root, "original_videos", c, f"{r}P", f"{v}.mkv")
            for v, c, r in zip(df["vid"], df["category"], res, strict=True)]
    return frame(uris, df["MOS full"], group=df["category"], video=df["vid"], source=path)


def _lsvq(root: str, df, path: str):
    need(df, ["name", "mos"], path)
    names = df["name"].astype(str)
    return frame([uri.join(root, f"{n}.mp4") for n in names], df["mos"],
                 group=names.str.split("/").str[0], video=names, source=path)


def lsvq_test(root: str, label_file: str | None = None):
    """LSVQ test (~7.2k videos, MOS 0-100, grouped by source batch, e.g. yfcc-batch1).

    Layout: <root>/labels_train_test.csv (`name`, `mos`, `is_test`: the rows with
    is_test true); videos <root>/<name>.mp4.
    Source: baidut/PatchVQ README (release v0.1 files; "is_test column denotes if a video
    is in the train set or the test set") and json/LSVQ.json (`fn_col: name`); the column
    list in sunwei925/SimpleVQA extract_frame_LSVQ.py.
    """
    path = label_file or find(root, ["labels_train_test.csv"], "LSVQ label file")
    df = read_csv(path)
    need(df, ["is_test"], path)
    test = df["is_test"].astype(str).str.lower().isin(["true", "1", "1.0"])
    return _lsvq(root, df[test], path)


def lsvq_1080p(root: str, label_file: str | None = None):
    """LSVQ test-1080p (~3.6k videos, MOS 0-100, grouped by source batch).

    Layout: <root>/labels_test_1080p.csv (`name`, `mos`; every row); videos <root>/<name>.mp4.
    Source: as lsvq_test (PatchVQ json/LSVQ.json `csv_labels_test_set`).
    """
    path = label_file or find(root, ["labels_test_1080p.csv"], "LSVQ-1080p label file")
    return _lsvq(root, read_csv(path), path)
