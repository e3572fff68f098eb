"""Loaders of the five out-of-distribution benchmarks: LIVE-YT-Gaming, CGVDS (gaming),
LIVE-YT-HFR (high frame rate), Waterloo-IVC-4K (4K compression) and KVQ (short-form).
Each reads the dataset's own label file as the public evaluation code reads it (sources
cited per loader; where the official file was not public, the LIVE lab's own CSV)."""

from __future__ import annotations

import posixpath

from w2s import uri
from w2s.benchmarks._read import (
    BenchmarkError,
    column,
    find,
    frame,
    mat_strings,
    read_csv,
    read_mat,
    read_xlsx,
)


def _with_ext(name: str, ext: str = ".mp4") -> str:
    return name if posixpath.splitext(name)[1] else name + ext


def live_yt_gaming(root: str, label_file: str | None = None):
    """LIVE-YT-Gaming (600 videos, MOS 0-100, grouped by game).

    Layout: <root>/LIVE-YT-Gaming_metadata.csv (`File`, `MOS`) or <root>/LIVEYTGaming.mat
    (`video_list`, `MOS`); videos <root>/<File> (e.g. AgeEmpires-001.mp4; .mp4 added when
    the name has no extension).
    Source: lskdream/GAMIVAL mos_files/LIVE-YT-Gaming_metadata.csv (the LIVE lab's
    CSV, read by demo_compute_NSS_feats.m) and the .mat read by sunwei925/MinimalisticVQA
    data_loader.py (`video_list[i][0][0] + '.mp4'`, `MOS[i][0]`).
    """
    path = label_file or find(root, ["LIVE-YT-Gaming_metadata.csv", "LIVEYTGaming.mat"], "LIVE-YT-Gaming label file")
    if path.endswith(".mat"):
        mat = read_mat(path)
        if "video_list" not in mat or "MOS" not in mat:
            raise BenchmarkError(f"{path}: needs the variables video_list and MOS")
        names, mos = mat_strings(mat["video_list"]), mat["MOS"].ravel()
    else:
        df = read_csv(path)
        names, mos = df[column(df, ["File"], path)].astype(str).tolist(), df[column(df, ["MOS"], path)]
    files = [_with_ext(n) for n in names]
    games = [posixpath.splitext(f)[0].rsplit("-", 1)[0] for f in files]
    return frame([uri.join(root, f) for f in files], mos, group=games, video=names, source=path)


def cgvds(root: str, label_file: str | None = None):
    """CGVDS (339 rated gaming videos, MOS = VQ_ACR on 1-5, grouped by game).

    Layout: <root>/CGVDS_metadata.csv, or the first .xlsx/.csv in "<root>/MOS information/",
    with `File` and `VQ_ACR` (video quality, 5-point ACR) and optionally `Content`; videos
    <root>/<File> (e.g. Bejeweled3_30s_1280x720_60_1000_h264_nvenc.mp4).
    Source: stootaghaj/CGVDS README (MOS columns VQ_ACR, VF_ACR, ...; file naming) and
    lskdream/GAMIVAL mos_files/CGVDS_metadata.csv (`File`, `VQ_ACR`, `Content`).
    """
    if label_file is None:
        try:
            label_file = find(root, ["CGVDS_metadata.csv"], "CGVDS label file")
        except BenchmarkError:
            folder = uri.join(root, "MOS information")
            files = [posixpath.basename(f) for f in uri.list_files(folder) if f.endswith((".xlsx", ".csv"))]
            if not files:
                raise BenchmarkError(f"CGVDS label file: no CGVDS_metadata.csv under {root} and no "
                                     f".xlsx/.csv in {folder}") from None
            label_file = uri.join(folder, files[0])
    path = label_file
    df = read_xlsx(path, 0) if path.endswith(".xlsx") else read_csv(path)
    name, mos = column(df, ["File", "Filename", "filename"], path), column(df, ["VQ_ACR"], path)
    files = [_with_ext(str(n)) for n in df[name]]
    groups = df["Content"].astype(str) if "Content" in df else [f.split("_", 1)[0] for f in files]
    return frame([uri.join(root, f) for f in files], df[mos], group=groups, video=df[name], source=path)


def live_yt_hfr(root: str, label_file: str | None = None):
    """LIVE-YT-HFR (480 videos = 16 contents x 6 frame rates x 5 CRFs, MOS 0-100, grouped by content).

    Layout: <root>/subjective_scores/subject_MOS.csv (or <root>/subject_MOS.csv), stored
    transposed: row 1 `File Names,<names>`, row 2 `MOS,<values>`, row 3 `std,...`; videos
    <root>/<content>/<name>.webm, content = the name up to its first underscore
    (1Runner_crf_0_24fps -> 1Runner/1Runner_crf_0_24fps.webm).
    Source: pavancm/LIVE-HFR subjective_scores/subject_MOS.csv and its README; the path in
    vztu/RAPIQUE demo_compute_RAPIQUE_feats.m (`fullfile(data_path, strs{1}, [Filename '.webm'])`).
    """
    path = label_file or find(root, ["subjective_scores/subject_MOS.csv", "subject_MOS.csv"],
                              "LIVE-YT-HFR label file")
    t = read_csv(path, header=None, index_col=0).T
    name = column(t, ["File Names", "Filename", "File Name"], path)
    t = t[t[name].notna()]
    names = t[name].astype(str).str.strip().tolist()
    contents = [n.split("_", 1)[0] for n in names]
    return frame([uri.join(root, c, f"{n}.webm") for c, n in zip(contents, names, strict=True)],
                 t[column(t, ["MOS"], path)], group=contents, video=names, source=path)


_WATERLOO_SIZES = {"540p": "960x540", "1080p": "1920x1080", "2160p": "3840x2160"}


def waterloo_ivc_4k(root: str, label_file: str | None = None):
    """Waterloo-IVC-4K (1200 videos = 20 sources x 5 encoders x 3 resolutions x 4 levels, MOS 0-100,
    grouped by encoder).

    Layout: <root>/scores.txt, no header, `encoder, video_number, resolution,
    distortion_level, mos` (e.g. `HEVC, 1, 540p, 1, 18.21`); videos
    <root>/<encoder>/<video_number, 2 digits>/<WxH>_<level>.mp4 (HEVC/01/960x540_1.mp4).
    Source: the database's scores.txt as described with the VMAF fork's dataset notes, and
    winwinwenwen77/ModularBVQA data/waterloo_data.csv (same rows, plus the `path` column).
    """
    path = label_file or find(root, ["scores.txt"], "Waterloo-IVC-4K label file")
    df = read_csv(path, header=None, skipinitialspace=True)
    if df.shape[1] < 5:
        raise BenchmarkError(f"{path}: expected 5 columns (encoder, video_number, resolution, level, mos), "
                             f"found {df.shape[1]}")
    enc, num, res, lvl, mos = (df[i] for i in range(5))
    sizes = res.astype(str).str.strip().str.lower().map(_WATERLOO_SIZES)
    if sizes.isna().any():
        raise BenchmarkError(f"{path}: unknown resolution {res[sizes.isna()].iloc[0]!r} (540p, 1080p or 2160p)")
    rel = [f"{str(e).strip()}/{int(n):02d}/{s}_{int(lv)}.mp4" for e, n, s, lv in zip(enc, num, sizes, lvl, strict=True)]
    return frame([uri.join(root, r) for r in rel], mos, group=enc.astype(str).str.strip(), video=rel, source=path)


def kvq(root: str, label_file: str | None = None):
    """KVQ (NTIRE 2024 short-form UGC; the test split, MOS 1-5, no groups).

    Layout: <root>/test_data.csv with `filename,score` (filename relative to the root,
    e.g. test/0001.mp4); another split through `label_file` (e.g. train_data.csv).
    Source: lixinustc/KVQ-Challenge-CVPR-NTIRE2024 metric_score.py (`df['filename']`,
    `df['score']`) and datasets/fusion_datasets.py (header row, filename then score).
    """
    path = label_file or find(root, ["test_data.csv", "truth.csv"], "KVQ label file")
    df = read_csv(path)
    name, mos = column(df, ["filename", "file_names"], path), column(df, ["score", "mos"], path)
    names = df[name].astype(str).tolist()
    return frame([uri.join(root, n) for n in names], df[mos], video=names, source=path)
