"""MovieLens: reading and verifying each format, the edited copies, protocols, baselines, download.

Every folder here is written by the test, with made-up movies; nothing from MovieLens is in the
repository. The ``shared_data`` tests read the real ml-100k from ../shared/data.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from personalize.data import load_dataset
from personalize.data.movielens import (
    MovieLensOptions,
    download_movielens,
    read_movielens,
    split_records,
    tallrec_input,
)
from personalize.errors import ConfigError, DataError
from personalize.evaluation import EvalOptions, evaluate
from personalize.methods import make_method
from personalize.metrics import compute_metrics, roc_auc

N_USERS, N_MOVIES, PER_USER = 6, 40, 24
GENRES_1M = ("Comedy", "Drama", "Sci-Fi", "Romance")


def fake_ratings(seed: int = 0) -> list[tuple[int, int, float, int]]:
    """``(user, movie, rating, time)`` in file order: users interleaved, some equal timestamps."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, N_USERS + 1):
        movies = rng.choice(np.arange(1, N_MOVIES + 1), size=PER_USER, replace=False)
        taste = rng.normal()
        for k, movie in enumerate(movies):
            rating = int(np.clip(np.round(3 + taste + (movie % 5 - 2) * 0.6 + rng.normal(0, 0.7)), 1, 5))
            rows.append((user, int(movie), float(rating), 880_000_000 + user * 10_000 + (k // 2) * 60))
    order = rng.permutation(len(rows))  # file order is not time order
    return [rows[i] for i in order]


def title(movie: int) -> str:
    return f"Made Up Film {movie}, The ({1950 + movie})"


def write_100k(folder: Path, rows=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = fake_ratings() if rows is None else rows
    (folder / "u.data").write_text("".join(f"{u}\t{m}\t{int(r)}\t{t}\n" for u, m, r, t in rows), encoding="latin-1")
    items = []
    for m in range(1, N_MOVIES + 1):
        flags = ["0"] * 19
        flags[1 + m % 18] = "1"
        flags[5] = "1" if m % 3 == 0 else flags[5]
        items.append(f"{m}|{title(m)}|01-Jan-{1950 + m}||http://example.invalid/{m}|" + "|".join(flags) + "\n")
    items[0] = items[0].replace("Made Up", "Café Made Up")  # a latin-1 character
    (folder / "u.item").write_bytes("".join(items).encode("latin-1"))
    (folder / "u.user").write_text("".join(f"{u}|30|M|other|0000{u}\n" for u in range(1, N_USERS + 1)))
    return folder


def write_1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = fake_ratings(1)
    (folder / "ratings.dat").write_text("".join(f"{u}::{m}::{int(r)}::{t}\n" for u, m, r, t in rows))
    movies = "".join(f"{m}::{title(m)}::{GENRES_1M[m % 4]}|{GENRES_1M[(m + 1) % 4]}\n" for m in range(1, N_MOVIES + 1))
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    (folder / "users.dat").write_text("".join(f"{u}::F::25::3::0000{u}\n" for u in range(1, N_USERS + 1)))
    return folder


def write_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = fake_ratings(2)
    lines = ["userId,movieId,rating,timestamp\n"]
    lines += [f"{u},{m},{r - 0.5 if m % 4 == 0 else r:g},{t}\n" for u, m, r, t in rows]
    (folder / "ratings.csv").write_text("".join(lines))
    movies = ["movieId,title,genres\n"]
    movies += [f'{m},"{title(m)}",{GENRES_1M[m % 4]}|{GENRES_1M[(m + 1) % 4]}\n' for m in range(1, N_MOVIES + 1)]
    movies[-1] = f"{N_MOVIES},Plain Title ({1950 + N_MOVIES}),(no genres listed)\n"
    (folder / "movies.csv").write_text("".join(movies), encoding="utf-8")
    return folder


WRITERS = {"ml-100k": write_100k, "ml-1m": write_1m, "csv": write_csv}
RATINGS_FILE = {"ml-100k": "u.data", "ml-1m": "ratings.dat", "csv": "ratings.csv"}
SEP = {"ml-100k": "\t", "ml-1m": "::", "csv": ","}


# --------------------------------------------------------------------------------------------
# Reading and verification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_reads_each_format(tmp_path: Path, fmt: str) -> None:
    data = read_movielens(WRITERS[fmt](tmp_path / fmt))
    assert data.format == fmt
    assert len(data) == N_USERS * PER_USER and data.n_users == N_USERS
    assert len(data.movies) == N_MOVIES
    movie = data.movies[2]
    assert movie.title == title(2) and movie.year == str(1952) and movie.genres
    assert data.checksum is None  # a small folder: structure verified, no published checksum
    if fmt == "csv":
        assert (data.ratings % 1 == 0.5).any()  # half stars
        assert data.movies[N_MOVIES].genres == ()
    if fmt == "ml-100k":
        assert data.movies[1].title.startswith("Café")


def _edit(path: Path, how: str, fmt: str) -> None:
    raw = path.read_bytes()
    sep = SEP[fmt].encode()
    if how == "user-0":
        lines = raw.split(b"\n")
        first = lines[1 if fmt == "csv" else 0].split(sep)
        fake = sep.join([b"0"] + first[1:])
        lines.insert(1 if fmt == "csv" else 0, fake)
        raw = b"\n".join(lines)
    elif how == "header":
        columns = sep.join([b"user_id", b"item_id", b"rating", b"timestamp"]) + b"\n"
        header = b"userId,movieId,rating,timestamp\n" if fmt == "csv" else columns
        raw = header + raw
    elif how == "ones":
        raw = raw.replace(b"1", b"")
    elif how == "users-995":
        first = raw.split(b"\n")[1 if fmt == "csv" else 0].split(sep)
        raw += b"".join(sep.join([str(u).encode()] + first[1:]) + b"\n" for u in range(995, 999))
    elif how == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    path.write_bytes(raw)


EDITS = {
    "user-0": "user id 0",
    "header": "header",
    "ones": "",
    "users-995": "995",
    "crlf": "CRLF",
}


@pytest.mark.parametrize("fmt", list(WRITERS))
@pytest.mark.parametrize("how", list(EDITS))
def test_refuses_edited_copies(tmp_path: Path, fmt: str, how: str) -> None:
    folder = WRITERS[fmt](tmp_path / fmt)
    _edit(folder / RATINGS_FILE[fmt], how, fmt)
    with pytest.raises(DataError) as info:
        read_movielens(folder)
    message = str(info.value)
    assert "\n" not in message.strip() and EDITS[how] in message
    assert RATINGS_FILE[fmt] in message


@pytest.mark.parametrize("fmt", ["ml-100k", "ml-1m"])
def test_refuses_edited_movies_and_users_files(tmp_path: Path, fmt: str) -> None:
    folder = WRITERS[fmt](tmp_path / fmt)
    movies = folder / ("u.item" if fmt == "ml-100k" else "movies.dat")
    movies.write_bytes(movies.read_bytes().replace(b"1", b""))
    with pytest.raises(DataError, match="every '1' deleted|listed twice|not a non-negative integer"):
        read_movielens(folder)
    folder = WRITERS[fmt](tmp_path / f"{fmt}-users")
    users = folder / ("u.user" if fmt == "ml-100k" else "users.dat")
    users.write_bytes(users.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(DataError, match="CRLF"):
        read_movielens(folder)


def test_csv_needs_its_header_once(tmp_path: Path) -> None:
    folder = write_csv(tmp_path / "csv")
    ratings = folder / "ratings.csv"
    ratings.write_text(ratings.read_text().split("\n", 1)[1])
    with pytest.raises(DataError, match="expected the header"):
        read_movielens(folder)


def test_ratings_out_of_range_and_duplicates(tmp_path: Path) -> None:
    rows = fake_ratings()
    bad = [(rows[0][0], rows[0][1], 6.0, rows[0][3])] + rows[1:]
    with pytest.raises(DataError, match="outside 1-5"):
        read_movielens(write_100k(tmp_path / "a", bad))
    dup = rows + [rows[0]]
    with pytest.raises(DataError, match="more than once"):
        read_movielens(write_100k(tmp_path / "b", dup))
    few = [r for r in rows if not (r[0] == 2 and r[1] % 2)]
    with pytest.raises(DataError, match="at least 20"):
        read_movielens(write_100k(tmp_path / "c", few))


def test_a_folder_claiming_to_be_ml100k_must_match_the_checksums(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    (folder / "u.info").write_text("943 users\n1682 items\n100000 ratings\n")
    with pytest.raises(DataError, match="not the published MovieLens 100K file"):
        read_movielens(folder)


def test_ties_in_time_keep_file_order(tmp_path: Path) -> None:
    rows = fake_ratings()
    data = read_movielens(write_100k(tmp_path / "d", rows))
    for seq in data.sequences().values():
        times = data.times[seq]
        assert (np.diff(times) >= 0).all()
        tied = np.flatnonzero(np.diff(times) == 0)
        assert len(tied) and (np.diff(seq)[tied] > 0).all()  # equal times: file order
    assert list(data.sequences())[0] == rows[0][0]  # users in order of first appearance


# --------------------------------------------------------------------------------------------
# Protocols and tasks
# --------------------------------------------------------------------------------------------


@pytest.fixture
def ml_folder(tmp_path: Path) -> Path:
    return write_100k(tmp_path / "ml")


def test_tallrec_protocol_cuts_the_last_records(ml_folder: Path) -> None:
    data = read_movielens(ml_folder)
    splits = split_records(data, MovieLensOptions(protocol="tallrec", records=50))
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [40, 5, 5]
    every = split_records(data, MovieLensOptions(protocol="tallrec", records=10_000))
    assert sum(map(len, every.values())) == N_USERS * (PER_USER - 10)
    flat = every["train"] + every["dev"] + every["test"]
    assert [r.id for r in flat[-50:]] == [r.id for r in splits["train"] + splits["dev"] + splits["test"]]
    for rec in flat:
        seq = data.sequences()[rec.user]
        assert rec.t >= 10 and rec.index == seq[rec.t] and rec.history == tuple(seq[rec.t - 10 : rec.t])


def test_users_protocol_has_disjoint_users_and_later_records(ml_folder: Path) -> None:
    opts = MovieLensOptions(protocol="users", per_user=4, test_users=0.34, dev_users=0.17)
    splits = split_records(read_movielens(ml_folder), opts)
    users = {s: {r.user for r in recs} for s, recs in splits.items()}
    assert users["train"].isdisjoint(users["test"]) and users["dev"].isdisjoint(users["test"])
    assert len(users["test"]) == 2 and len(users["dev"]) == 1
    assert all(r.t >= PER_USER - 4 for r in splits["test"]) and len(splits["test"]) == 8
    again = split_records(read_movielens(ml_folder), opts)
    assert [r.id for r in again["test"]] == [r.id for r in splits["test"]]  # seeded: the same split


def test_time_protocol_orders_splits_per_user(ml_folder: Path) -> None:
    splits = split_records(read_movielens(ml_folder), MovieLensOptions(protocol="time"))
    for user in range(1, N_USERS + 1):
        t = {s: [r.t for r in recs if r.user == user] for s, recs in splits.items()}
        assert max(t["train"]) < min(t["dev"]) <= max(t["dev"]) < min(t["test"])
        assert len(t["test"]) == 3  # ceil(10% of 24)


def test_full_history_and_shots(ml_folder: Path) -> None:
    full = load_dataset(f"{ml_folder}:history=all", "test")
    for e in full:
        assert len(full.profile(e)) == int(e.id.split("-")[1])
    few = load_dataset(f"{ml_folder}:shots=16,seed=3", "train")
    again = load_dataset(ml_folder, "train", shots=16, seed=3)
    assert len(few) == 16 and [e.id for e in few] == [e.id for e in again]
    assert len(load_dataset(f"{ml_folder}:shots=all", "train")) > 16
    assert len(load_dataset(f"{ml_folder}:shots=16", "test")) == len(load_dataset(ml_folder, "test"))


def test_examples_items_and_prompt(ml_folder: Path) -> None:
    ds = load_dataset(ml_folder, "test", "movielens-like")
    assert ds.task.name == "movielens-like" and ds.source.endswith(":protocol=tallrec")
    e = ds.examples[0]
    assert e.output in ("Yes", "No") and e.person and e.item and e.user_id == e.id
    assert e.input.startswith("Given the user's preference and unpreference")
    assert ds.task.query_text(e.input).startswith('"Made Up Film')
    item = ds.profile(e).items[0]
    assert set(item) == {"id", "title", "year", "genres", "rating", "liked", "text"}
    assert item["liked"] == ("Yes" if int(item["rating"]) > 3 else "No")
    assert item["text"].endswith(f"rated {item['rating']} of 5")
    text = tallrec_input(ds.profile(e).items, "Target (2000)")
    assert text.startswith("User Preference: ") and "\nUser Unpreference: " in text
    rating = load_dataset(f"{ml_folder}:protocol=users", "test", "movielens-rating")
    assert rating.examples[0].output in {"1", "2", "3", "4", "5"}


def test_item_stats_come_from_the_training_records_without_the_own_rating(ml_folder: Path) -> None:
    source = f"{ml_folder}:protocol=users,test_users=0.34,dev_users=0.17"
    train = load_dataset(source, "train")
    liked: dict[str, list[int]] = {}
    for e in train:
        liked.setdefault(e.item, []).append(e.output == "Yes")
    with_stats = {s: load_dataset(f"{source},item_stats=1,shots=8", s) for s in ("train", "test")}
    assert len(with_stats["train"]) == 8  # shots samples the records, not the statistics
    for split, ds in with_stats.items():
        plain = {e.id: e for e in load_dataset(source, split)}
        for e in ds:
            first, line = e.input.rsplit("\n", 1)
            assert first == plain[e.id].input and e.output == plain[e.id].output
            votes = list(liked.get(e.item, []))
            if split == "train":  # leave-one-out: the record's own answer is not in its line
                votes.remove(e.output == "Yes")
            expected = (f"Other viewers: {round(100 * sum(votes) / len(votes))}% of {len(votes)} liked it."
                        if votes else "Other viewers: none yet.")
            assert line == expected, e.id
    rating = load_dataset(f"{source},item_stats=1", "test", "movielens-rating")
    assert re.fullmatch(r"Other viewers: (mean rating [1-5]\.\d of 5 from \d+|none yet)\.",
                        rating.examples[0].input.rsplit("\n", 1)[1])
    assert ":protocol=users" in rating.source and "item_stats=1" in rating.source
    with pytest.raises(ConfigError, match="item_stats must be 0 or 1"):
        load_dataset(f"{source},item_stats=2", "test")


def test_user_stats_give_the_history_share_liked_and_its_movies_other_viewers(ml_folder: Path) -> None:
    source = f"{ml_folder}:protocol=users,test_users=0.34,dev_users=0.17"
    votes: dict[str, dict[str, bool]] = {}  # movie -> training user -> liked
    for e in load_dataset(source, "train"):
        votes.setdefault(e.item, {})[e.person] = e.output == "Yes"
    checked_others = 0
    for split in ("train", "test"):
        plain = {e.id: e for e in load_dataset(source, split)}
        ds = load_dataset(f"{source},user_stats=1", split)
        for e in ds:
            first, line = e.input.rsplit("\n", 1)
            assert first == plain[e.id].input  # no item line without item_stats
            items = ds.profile(e).items
            # a movie's other viewers never include this user: their own rating is their history
            rates = [sum(v.values()) / len(v) for v in
                     ({u: x for u, x in votes.get(h["id"], {}).items() if u != e.person} for h in items) if v]
            checked_others += len(rates)
            others = f"other viewers liked {round(100 * sum(rates) / len(rates))}% of those." if rates else \
                "other viewers: none yet for those."
            liked = sum(h["liked"] == "Yes" for h in items)
            assert line == f"This user liked {liked} of {len(items)} earlier movies; {others}", e.id
    assert checked_others > 0
    both = load_dataset(f"{source},item_stats=1,user_stats=1", "test").examples[0].input.split("\n")
    assert both[-2].startswith("Other viewers: ") and both[-1].startswith("This user liked ")
    rating = load_dataset(f"{source},user_stats=1", "test", "movielens-rating").examples[0].input.rsplit("\n", 1)[1]
    assert re.fullmatch(r"This user's mean rating: [1-5]\.\d of 5 over 10 earlier movies; "
                        r"(other viewers' mean for those: [1-5]\.\d|other viewers: none yet for those)\.", rating)
    with pytest.raises(ConfigError, match="user_stats must be 0 or 1"):
        load_dataset(f"{source},user_stats=2", "test")


@pytest.mark.parametrize("source, error", [
    (":protocol=nope", ConfigError), (":history=ten", ConfigError), (":colour=red", ConfigError),
])
def test_bad_options_are_one_line_errors(ml_folder: Path, source: str, error: type) -> None:
    with pytest.raises(error):
        load_dataset(f"{ml_folder}{source}", "test")
    with pytest.raises(DataError, match="splits train, dev, test"):
        load_dataset(ml_folder, "valid")
    with pytest.raises(ConfigError, match="movielens-like or movielens-rating"):
        load_dataset(ml_folder, "test", "LaMP-3")


# --------------------------------------------------------------------------------------------
# Metrics and baselines
# --------------------------------------------------------------------------------------------


def test_roc_auc_known_value() -> None:
    assert roc_auc(np.array([0, 0, 1, 1], bool), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert np.isnan(roc_auc(np.array([1, 1], bool), np.array([0.1, 0.2])))


def test_auc_and_user_auc_metrics() -> None:
    from personalize.data import get_task

    task = get_task("movielens-like")
    golds = {"a": "Yes", "b": "No", "c": "Yes", "d": "No", "e": "Yes"}
    preds = {"a": "Yes", "b": "No", "c": "No", "d": "Yes", "e": "Yes"}
    probs = {"a": 0.9, "b": 0.2, "c": 0.4, "d": 0.6, "e": 0.7}
    owners = {"a": "u1", "b": "u1", "c": "u2", "d": "u2", "e": "u3"}
    m = compute_metrics(task, preds, golds, probabilities=probs, owners=owners)
    assert m["auc"] == pytest.approx(5 / 6) and m["user-auc"] == pytest.approx(0.5)  # u1: 1, u2: 0, u3 skipped
    hard = compute_metrics(task, preds, golds)
    assert hard["auc"] == pytest.approx(roc_auc(np.array([1, 0, 1, 0, 1], bool), np.array([1, 0, 0, 1, 1.0])))
    assert np.isnan(hard["user-auc"])


try:
    import lenskit  # noqa: F401

    HAS_LENSKIT = True
except ImportError:  # the `recsys` extra is not installed: `mf` is skipped, the others still run
    HAS_LENSKIT = False
BASELINES = ["global-mean", "user-mean", "item-mean", "like-rate", "like-rate-item", "bias"] + (["mf"] if HAS_LENSKIT else [])


@pytest.mark.parametrize("protocol", ["tallrec", "users"])
def test_baselines_on_like_give_probabilities(ml_folder: Path, protocol: str) -> None:
    ds = load_dataset(f"{ml_folder}:protocol={protocol},records=60", "test")
    for name in BASELINES:
        method = make_method(name)
        results = evaluate(method, ds, show_progress=False)
        assert results["auc_from"] == "probabilities"
        assert set(results["metrics"]) == {"accuracy", "f1", "auc", "user-auc"}
        p = method.predict_probability(ds.examples[0], ds.profile(ds.examples[0]))
        assert 0.0 <= p <= 1.0
    like = make_method("like-rate")
    evaluate(like, ds, show_progress=False)
    e = ds.examples[0]
    share = np.mean([h["liked"] == "Yes" for h in ds.profile(e).items])
    assert like.predict_probability(e, ds.profile(e)) == pytest.approx(share)
    assert evaluate(make_method("global-mean"), ds, show_progress=False)["metrics"]["auc"] == 0.5


def test_baselines_on_rating_predict_ratings(ml_folder: Path) -> None:
    ds = load_dataset(ml_folder, "test", "movielens-rating")
    for name in [b for b in BASELINES if not b.startswith("like-rate")]:
        method = make_method(name)
        results = evaluate(method, ds, show_progress=False)
        assert set(results["metrics"]) == {"mae", "rmse", "accuracy"} and results["metrics"]["mae"] < 2
        answer = float(method.predict_direct(ds.examples[0], ds.profile(ds.examples[0])))
        assert 1.0 <= answer <= 5.0
    with pytest.raises(ConfigError, match="like task"):
        evaluate(make_method("like-rate"), ds, show_progress=False)


def test_baselines_need_training_records() -> None:
    ds = load_dataset("synthetic-pref", "dev")
    with pytest.raises(ConfigError):
        evaluate(make_method("bias"), ds, show_progress=False)


def test_label_scoring_gives_p_yes(ml_folder: Path, tiny_model, tmp_path: Path) -> None:
    ds = load_dataset(ml_folder, "test").limit(4)
    results = evaluate(make_method("none"), ds, model=tiny_model, options=EvalOptions(mode="score", batch_size=2),
                       out_dir=tmp_path / "out", show_progress=False)
    assert results["auc_from"] == "probabilities" and "auc" in results["metrics"]
    details = [json.loads(line) for line in (tmp_path / "out" / "details.jsonl").read_text().splitlines()]
    for d in details:
        yes, no = np.exp(d["label_logprobs"])
        assert d["p_positive"] == pytest.approx(yes / (yes + no), abs=1e-3)


# --------------------------------------------------------------------------------------------
# Download (no network: a file:// folder stands in for GroupLens)
# --------------------------------------------------------------------------------------------


def _serve_zip(site: Path, folder: Path, stem: str, md5: str | None = None, extra: str | None = None) -> None:
    site.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{stem}/{path.name}")
        if extra:
            zf.writestr(extra, "x")
    data = buffer.getvalue()
    (site / f"{stem}.zip").write_bytes(data)
    (site / f"{stem}.zip.md5").write_text(f"MD5 ({stem}.zip) = {md5 or hashlib.md5(data).hexdigest()}\n")


def test_download_verifies_and_unpacks(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _serve_zip(site, write_csv(tmp_path / "src"), "ml-latest-small")
    dest = download_movielens("movielens-latest-small", base_url=site.as_uri(), retries=0)
    assert read_movielens(dest).format == "csv"
    assert load_dataset("movielens-latest-small:protocol=users", "test").task.name == "movielens-like"
    assert download_movielens("movielens-latest-small", base_url="file:///nowhere", retries=0) == dest  # cached


@pytest.mark.parametrize("problem", ["md5", "edited", "outside", "missing"])
def test_download_refuses_bad_archives(tmp_path: Path, problem: str) -> None:
    site, src = tmp_path / "site", write_100k(tmp_path / "src")
    if problem == "edited":
        _edit(src / "u.data", "crlf", "ml-100k")
    if problem != "missing":
        _serve_zip(site, src, "ml-100k", md5="0" * 32 if problem == "md5" else None,
                   extra="../evil.txt" if problem == "outside" else None)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match={"md5": "MD5", "edited": "CRLF", "outside": "outside", "missing": "download failed"}[problem]):
        download_movielens("movielens-100k", dest, base_url=site.as_uri(), retries=0)
    assert not dest.exists()


def test_download_cli_dispatches_movielens_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import personalize.data.movielens as ml
    from personalize.cli import app

    calls = []
    monkeypatch.setattr(ml, "download_movielens", lambda name, dest, force=False: calls.append((name, dest)) or dest)
    result = CliRunner().invoke(app, ["data", "download", "movielens-100k", "--dest", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert calls == [("movielens-100k", tmp_path / "d")]
    with pytest.raises(ConfigError):
        download_movielens("movielens-1b")


# --------------------------------------------------------------------------------------------
# The real ml-100k (../shared/data; never committed)
# --------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_ml100k_is_verified(shared_data: Path) -> None:
    data = read_movielens(shared_data / "movielens-100k")
    assert data.checksum == "sha256" and len(data) == 100_000 and data.n_users == 943 and len(data.movies) == 1682


@pytest.mark.shared_data
def test_real_tallrec_split_and_rules(shared_data: Path) -> None:
    source = str(shared_data / "movielens-100k")
    test = load_dataset(f"{source}:protocol=tallrec", "test", "movielens-like")
    assert len(test) == 1000 and len({e.owner for e in test}) == 16
    assert round(np.mean([e.output == "Yes" for e in test]), 3) == 0.528
    assert [len(load_dataset(source, s)) for s in ("train", "dev")] == [8000, 1000]
    auc = {m: evaluate(make_method(m), test, show_progress=False)["metrics"]["auc"] for m in ("like-rate", "like-rate-item")}
    assert round(auc["like-rate"], 3) == 0.726  # TALLRec's share-of-liked rule, no training
    assert abs(auc["like-rate-item"] - 0.761) < 0.005  # + the movie's like rate; ours 0.763


def test_comparison_quotes_gains_in_auc_with_user_level_intervals(ml_folder: Path, tmp_path: Path, tiny_model) -> None:
    from personalize.compare import ComparisonConfig, run_comparison
    from personalize.compare.tables import table_cells

    config = ComparisonConfig.from_dict({
        "name": "ml-tiny", "data": f"{ml_folder}:protocol=time", "task": "movielens-like", "split": "test",
        "eval": {"mode": "score", "batch_size": 8}, "baseline": "text-k2",
        "methods": [{"name": "none", "method": "none"}, {"name": "like-rate", "method": "like-rate"},
                    {"name": "text-k2", "method": "text", "settings": {"k": 2, "retriever": "recency"}},
                    {"name": "user-majority", "method": "user-majority"}],
        "shuffled_ablation": True, "derangements": 2, "latency_examples": 1, "latency_new_tokens": 1,
        "latency_repeats": 1, "history_lengths": [], "report_samples": 0,
    })
    rows = {r["name"]: r for r in run_comparison(config, tmp_path / "out", loaded_model=tiny_model, show_progress=False)}
    text = rows["text-k2"]
    for gain in (text["vs_none"], text["user_gain"]):
        assert gain["metric"] == "auc" and gain["low"] <= gain["difference"] <= gain["high"]
        assert gain["users"] == N_USERS and gain["by_metric"]["auc"]["ours"] == pytest.approx(text["metrics"]["auc"])
    # a row that only answers (no probability per record) quotes its own-history gain in accuracy
    assert rows["user-majority"]["user_gain"]["metric"] == "accuracy"
    headers, _ = table_cells(list(rows.values()))
    assert "− none (adaptation) (auc)" in headers and "own − other user's history (auc; > 0: own helps)" in headers


def test_training_can_keep_the_epoch_of_the_best_dev_auc(ml_folder: Path, tiny_model, fake_encoder,
                                                          tmp_path: Path) -> None:
    """On a ranked task ``select_on="metric"`` ranks epochs by the dev records' AUC (label scoring),
    the issue's metric, and refuses a dev set with one answer, where AUC is undefined."""
    from personalize.data.tasks import TASKS
    from personalize.training import TrainConfig, train

    assert TASKS.get("movielens-like").primary_metric == "auc"
    assert TASKS.get("movielens-rating").primary_metric == "mae"
    config = TrainConfig(method="e2p", data=f"{ml_folder}:protocol=time", task="movielens-like",
                         adapter={"num_tokens": 1, "mlp_hidden": 16}, epochs=3, batch_size=8, lr=5e-2,
                         warmup_ratio=0.0, patience=100, select_on="metric", eval={"batch_size": 8})
    summary = train(config, tmp_path / "run", show_progress=False, loaded_model=tiny_model)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    aucs = [entry["dev"]["auc"] for entry in log]
    assert summary["selected_on"] == "metric" and list(summary["best_dev"]) == ["auc"]
    assert summary["best_dev"]["auc"] == max(aucs) and summary["best_epoch"] == aucs.index(max(aucs)) + 1
    kept = json.loads((tmp_path / "run" / "dev" / "results.json").read_text())
    assert kept["auc_from"] == "probabilities" and kept["metrics"]["auc"] == max(aucs)

    with pytest.raises(ConfigError, match="one answer only"):
        train(TrainConfig(**{**config.to_dict(), "dev_limit": 1}), tmp_path / "one", show_progress=False,
              loaded_model=tiny_model)
