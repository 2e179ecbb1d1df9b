"""nncore.datasets' readers on their own: every format, every mistake they name,
and the held-out split (which must stay the one digits_split always gave)."""

import doctest
import gzip
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nncore import datasets
from nncore.datasets import (
    Dataset,
    csv_header,
    digits_split,
    file_kind,
    load_digits,
    read_csv,
    read_data,
    read_idx,
    read_idx_pair,
    read_npz,
    split_indices,
)


def write(path, text, encoding="utf-8"):
    """``text`` to ``path`` byte for byte (no newline translation)."""
    path.write_bytes(text.encode(encoding))
    return path


def raises(match, path=None):
    """pytest.raises(ValueError) whose message also names ``path``."""
    pattern = re.escape(str(path)) + ".*" + match if path is not None else match
    return pytest.raises(ValueError, match=pattern)


def idx_bytes(array):
    array = np.asarray(array)
    code = {"uint8": 0x08, "int8": 0x09, "int32": 0x0C, "float64": 0x0E}[array.dtype.name]
    head = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, compress=False):
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


# ---------------------------------------------------------------- CSV


def test_read_csv_numbers(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,label\n1,2,0\n3,4.5,1\n")
    ds = read_csv(path, target="label")
    assert isinstance(ds, Dataset)
    np.testing.assert_array_equal(ds.data, [[1.0, 2.0], [3.0, 4.5]])
    assert ds.data.dtype == np.float64 and ds.data.flags.c_contiguous and ds.data.flags.writeable
    assert ds.target.tolist() == [0, 1] and ds.target.dtype == np.int64  # whole -> int
    assert ds.feature_names == ["a", "b"] and ds.target_name == "label"
    assert ds.source == str(path) and ds.kind == "csv" and ds.pixel_max is None
    X, y = ds
    assert X is ds.data and y is ds.target


def test_read_csv_target_by_position_or_none(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,c\n1,2,3\n4,5,6\n")
    last = read_csv(path, target=-1)
    assert last.target_name == "c" and last.feature_names == ["a", "b"]
    first = read_csv(path, target=0)
    assert first.target.tolist() == [1, 4] and first.feature_names == ["b", "c"]
    none = read_csv(path)
    assert none.target is None and none.target_name is None
    assert none.feature_names == ["a", "b", "c"] and none.data.shape == (2, 3)
    with raises("has 3 columns, so no column number 3", path):
        read_csv(path, target=3)
    with raises("no column number -4", path):
        read_csv(path, target=-4)
    with pytest.raises(TypeError, match="not by float"):
        read_csv(path, target=1.0)
    with pytest.raises(TypeError, match="not by bool"):
        read_csv(path, target=True)


def test_read_csv_unknown_column_lists_the_columns(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,c,d,e,f,g\n" + ",".join("1234567") + "\n")
    with raises(r"has no column 'x' \(columns: 'a', 'b', 'c', 'd', 'e', \.\.\. \(7 in all\)\)",
                path):
        read_csv(path, target="x")
    with raises("has no column 'x'", path):
        read_csv(path, features=["a", "x"])


def test_read_csv_features_by_name_in_any_order(tmp_path):
    # the text column is neither feature nor target: it is not read at all
    path = write(tmp_path / "t.csv", "a,note,b,y\n1,hello,2,7\n3,world,4,8\n")
    ds = read_csv(path, target="y", features=["b", "a"])
    np.testing.assert_array_equal(ds.data, [[2.0, 1.0], [4.0, 3.0]])
    assert ds.feature_names == ["b", "a"] and ds.target.tolist() == [7, 8]
    assert read_csv(path, features=[2, 0]).feature_names == ["b", "a"]
    with raises("column 'y' cannot be both a feature and the target", path):
        read_csv(path, target="y", features=["a", "y"])
    with raises("features names a column twice", path):
        read_csv(path, features=["a", "a"])
    with raises("features names no column", path):
        read_csv(path, target="y", features=[])
    with pytest.raises(TypeError, match="not one name"):
        read_csv(path, features="a")
    with raises("column 'note' has 'hello', not a number", path):
        read_csv(path, target="y")


def test_read_csv_text_labels(tmp_path):
    path = write(tmp_path / "t.csv",
                 "x,species\n1, setosa\n2,versicolor \n3,setosa\n4,2\n")
    ds = read_csv(path, target="species")
    assert ds.target.dtype.kind == "U"
    assert ds.target.tolist() == ["setosa", "versicolor", "setosa", "2"]  # stripped, all text
    np.testing.assert_array_equal(ds.data, [[1.0], [2.0], [3.0], [4.0]])


def test_read_csv_fractional_or_huge_targets_stay_floats(tmp_path):
    path = write(tmp_path / "t.csv", "x,y\n1,0.5\n2,1.0\n")
    ds = read_csv(path, target="y")
    assert ds.target.dtype == np.float64 and ds.target.tolist() == [0.5, 1.0]
    path = write(tmp_path / "big.csv", "x,y\n1,1e20\n2,-3e20\n3,9007199254740992\n")
    ds = read_csv(path, target="y")  # whole, but beyond what int64 labels should hold
    assert ds.target.dtype == np.float64 and ds.target.tolist() == [1e20, -3e20, 2.0**53]
    ints = read_csv(write(tmp_path / "ok.csv", "x,y\n1,9007199254740992\n2,-5\n"), target="y")
    assert ints.target.dtype == np.int64 and ints.target.tolist() == [2**53, -5]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_read_csv_delimiters_and_line_endings(tmp_path, delimiter, newline):
    rows = [["a", "b", "label"], ["1.5", "-2", "cat"], ["3", "4e1", "dog"]]
    text = newline.join(delimiter.join(r) for r in rows) + newline
    path = write(tmp_path / "t.csv", text)
    ds = read_csv(path, target="label")
    np.testing.assert_array_equal(ds.data, [[1.5, -2.0], [3.0, 40.0]])
    assert ds.target.tolist() == ["cat", "dog"] and ds.feature_names == ["a", "b"]
    assert csv_header(path) == ["a", "b", "label"]
    numeric = write(tmp_path / "n.csv", text.replace("cat", "0").replace("dog", "1"))
    assert read_csv(numeric, target="label").target.tolist() == [0, 1]


@pytest.mark.parametrize("labels", ["x,y", "0,1"], ids=["text-labels", "numeric"])
def test_read_csv_byte_order_mark_is_skipped(tmp_path, labels):
    first, second = labels.split(",")
    path = write(tmp_path / "t.csv", f"a,b,label\n1,2,{first}\n3,4,{second}\n",
                 encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    ds = read_csv(path, target="label")
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.data, [[1.0, 2.0], [3.0, 4.0]])
    assert csv_header(path) == ["a", "b", "label"]


def test_read_csv_quoted_fields(tmp_path):
    path = write(tmp_path / "t.csv",
                 '"width","height","name"\n"1.5","2","Smith, J."\n"3","4","said ""hi"""\n')
    ds = read_csv(path, target="name")
    assert ds.feature_names == ["width", "height"]
    np.testing.assert_array_equal(ds.data, [[1.5, 2.0], [3.0, 4.0]])
    assert ds.target.tolist() == ["Smith, J.", 'said "hi"']
    # all numbers, quoted: the NumPy path reads them
    numbers = write(tmp_path / "n.csv", '"a","b"\n"1","2"\n"3","4"\n')
    np.testing.assert_array_equal(read_csv(numbers, target="b").data, [[1.0], [3.0]])


def test_numpy_and_csv_module_paths_agree(tmp_path):
    """An all-numeric file goes through np.loadtxt, one with text through the csv
    module: the features must come out the same, to the bit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 10.0 ** rng.integers(-5, 5, size=(50, 3))
    body = "".join(f"{float(a)!r},{float(b)!r},{float(c)!r},{k}\n"
                   for (a, b, c), k in zip(X, range(50)))
    fast = read_csv(write(tmp_path / "fast.csv", "a,b,c,k\n" + body), target="k")
    slow = read_csv(write(tmp_path / "slow.csv", "a,b,c,k\n" + body.replace(",0\n", ",z\n")),
                    target="k")
    assert slow.target.dtype.kind == "U" and fast.target.dtype == np.int64
    assert fast.data.tobytes() == slow.data.tobytes() == X.tobytes()


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_read_csv_refuses_nan_and_inf_features(tmp_path, cell):
    for label in ("x", "1"):  # through the csv module, and through np.loadtxt
        path = write(tmp_path / "t.csv", f"a,b,label\n1,2,{label}\n3,{cell},{label}\n")
        with raises(r", line 3: column 'b' is NaN or infinite", path):
            read_csv(path, target="label")


@pytest.mark.parametrize("cell", ["nan", "inf"])
def test_read_csv_refuses_nan_and_inf_targets(tmp_path, cell):
    path = write(tmp_path / "t.csv", f"a,y\n1,0.5\n2,{cell}\n3,1.5\n")
    with raises(r", line 3: column 'y' is NaN or infinite", path):
        read_csv(path, target="y")


def test_read_csv_non_numeric_and_empty_cells(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,label\n1,2,x\n3,oops,y\n")
    with raises(r", line 3: column 'b' has 'oops', not a number", path):
        read_csv(path, target="label")
    path = write(tmp_path / "e.csv", "a,b,label\n1,2,x\n3, ,y\n")
    with raises(r", line 3: column 'b' is empty", path):
        read_csv(path, target="label")
    path = write(tmp_path / "l.csv", "a,b,label\n1,2,x\n3,4,\n")
    with raises(r", line 3: column 'label' is empty", path):
        read_csv(path, target="label")


@pytest.mark.parametrize("line, fields", [("3,4", 2), ("3,4,y,5", 4)])
def test_read_csv_malformed_lines(tmp_path, line, fields):
    path = write(tmp_path / "t.csv", f"a,b,label\n1,2,x\n{line}\n5,6,z\n")
    with raises(rf", line 3: {fields} fields, but the header has 3", path):
        read_csv(path, target="label")


def test_read_csv_line_numbers_are_the_files(tmp_path):
    # blank lines (before the header too) and a quoted field over two lines count
    path = write(tmp_path / "t.csv", '\n\na,b,label\n1,2,"two\nlines"\n\n3,oops,y\n')
    with raises(r", line 7: column 'b' has 'oops'", path):
        read_csv(path, target="label")
    ds = read_csv(write(tmp_path / "ok.csv", '\n\na,b,label\n1,2,"two\nlines"\n\n3,4,y\n'),
                  target="label")
    assert ds.target.tolist() == ["two\nlines", "y"]


@pytest.mark.parametrize("text, match", [
    ("", "is empty"),
    ("\n \n\t\n", "is empty"),
    ("a,b,label\n", "has a header but no data rows"),
    ("a,b,label\n\n\n", "has a header but no data rows"),
    ("label\n1\n2\n", "has no feature columns besides the target 'label'"),
    ("a,b,a\n1,2,3\n", r"the header repeats a column name \('a'\)"),
])
def test_read_csv_unusable_files(tmp_path, text, match):
    path = write(tmp_path / "t.csv", text)
    with raises(match, path):
        read_csv(path, target=-1)


def test_read_csv_refuses_what_is_not_utf8_text(tmp_path):
    path = write(tmp_path / "t.csv", "a,label\n1,caf\xe9\n", encoding="latin-1")
    with raises("is neither a CSV text file, an .npz archive nor an IDX file", path):
        read_csv(path, target="label")
    binary = tmp_path / "b.dat"
    binary.write_bytes(bytes(range(256)))
    with raises("is neither a CSV text file", binary):
        read_csv(binary)
    with raises("is neither a CSV text file", binary):
        csv_header(binary)


def test_read_csv_a_field_the_csv_module_refuses(tmp_path):
    path = write(tmp_path / "t.csv", "a,label\n1,x\n2," + "y" * 200_000 + "\n")
    with raises("line 3: field larger than field limit", path):
        read_csv(path, target="label")


def test_read_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        read_csv(tmp_path / "nope.csv")
    assert exc.value.filename == str(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError):
        csv_header(tmp_path / "nope.csv")


def test_csv_header_reads_what_read_csv_reads(tmp_path):
    # a header longer than the sniffer's sample, and a body much longer than it
    names = [f"pixel{i}" for i in range(2000)]
    rows = "".join(",".join(["0"] * 1999 + [str(k % 3)]) + "\n" for k in range(20))
    path = write(tmp_path / "wide.csv", "\n" + ",".join(names) + "\n" + rows)
    assert csv_header(path) == names
    ds = read_csv(path, target=-1)
    assert ds.feature_names == names[:-1] and ds.data.shape == (20, 1999)
    assert csv_header(write(tmp_path / "one.csv", "just_one\n1\n")) == ["just_one"]
    with raises(r"repeats a column name \('a'\)"):
        csv_header(write(tmp_path / "d.csv", "a;a\n1;2\n"))


# ---------------------------------------------------------------- .npz


def test_read_npz(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    np.savez(tmp_path / "d.npz", X=X, y=np.array([0.0, 1.0, 1.0, 0.0]))
    ds = read_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds.data, X)
    assert ds.data.dtype == np.float64
    assert ds.target.tolist() == [0, 1, 1, 0] and ds.target.dtype == np.int64
    assert ds.kind == "npz" and ds.source == str(tmp_path / "d.npz")
    assert ds.images is None and ds.pixel_max is None and ds.feature_names is None


def test_read_npz_label_names_and_shapes(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.arange(3), Y=np.array([[0.5], [1.5], [2.5]]))
    ds = read_npz(tmp_path / "a.npz")
    assert ds.data.shape == (3, 1)  # 1-D X: one feature per sample
    assert ds.target.tolist() == [0.5, 1.5, 2.5]  # (n, 1) -> (n,), fractions stay floats
    np.savez(tmp_path / "b.npz", X=np.ones((3, 2)))
    assert read_npz(tmp_path / "b.npz").target is None
    np.savez(tmp_path / "c.npz", X=np.ones((2, 2)), y=np.array(["cat", "dog"]))
    assert read_npz(tmp_path / "c.npz").target.tolist() == ["cat", "dog"]
    np.savez(tmp_path / "d.npz", X=np.ones((2, 2)), y=np.array([b"cat", b"dog"]))
    y = read_npz(tmp_path / "d.npz").target
    assert y.dtype.kind == "U" and y.tolist() == ["cat", "dog"]
    np.savez(tmp_path / "e.npz", X=np.ones((2, 2)), y=np.array([True, False]))
    assert read_npz(tmp_path / "e.npz").target.dtype == np.bool_


def test_read_npz_images(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.savez(tmp_path / "i.npz", X=images, y=[1, 2])
    ds = read_npz(tmp_path / "i.npz")
    assert ds.data.shape == (2, 12) and ds.pixel_max == 255.0
    np.testing.assert_array_equal(ds.images, images)
    assert np.shares_memory(ds.images, ds.data)


@pytest.mark.parametrize("arrays, match", [
    ({"a": np.ones(3)}, r"has no array named 'X' \(it has: a\)"),
    ({}, r"has no array named 'X' \(it has: nothing\)"),
    ({"X": np.float64(3.0)}, "X is a single number"),
    ({"X": np.array([["a", "b"]])}, "X has dtype <U1; features must be numbers"),
    ({"X": np.ones((0, 3))}, "holds no samples"),
    ({"X": np.ones((0, 4, 4), dtype=np.uint8)}, "holds no samples"),
    ({"X": np.ones((3, 0))}, "holds no features"),
    ({"X": np.array([[1.0], [np.nan]])}, "sample 1 has a missing, NaN or infinite feature"),
    ({"X": np.ones((3, 2)), "y": np.ones((3, 2))},
     r"y must be 1-D \(one label or target per sample\), got shape \(3, 2\)"),
    ({"X": np.ones((3, 2)), "y": np.ones(2)}, "X has 3 samples but y has 2"),
    ({"X": np.ones((3, 2)), "Y": np.array([0.0, np.inf, 1.0])}, r"Y\[1\] is NaN or infinite"),
    ({"X": np.ones((2, 2)), "y": np.array([1j, 2j])}, "labels must be numbers or text"),
    ({"X": np.ones((2, 2)), "y": np.array([b"\xff", b"a"])}, "bytes that are not UTF-8"),
])
def test_read_npz_refuses(tmp_path, arrays, match):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with raises(match, path):
        read_npz(path)


class _Touch:
    """Unpickling this creates a file: proof that code in a pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


@pytest.mark.parametrize("key", ["X", "y"])
def test_read_npz_refuses_object_arrays_without_unpickling(tmp_path, key):
    marker = tmp_path / "pickle-ran"
    payload = np.array([_Touch(marker), 1], dtype=object)
    pickle.loads(pickle.dumps(payload[0]))  # the payload works...
    assert marker.exists()
    marker.unlink()
    arrays = {"X": np.ones((2, 2)), "y": np.array([0, 1])}
    arrays[key] = payload
    np.savez(tmp_path / "o.npz", **arrays)  # savez pickles object arrays
    with raises(f"array '{key}' cannot be read: Object arrays cannot be loaded when "
                f"allow_pickle=False", tmp_path / "o.npz"):
        read_npz(tmp_path / "o.npz")
    assert not marker.exists()  # ...and reading the archive never ran it


def test_read_npz_refuses_what_is_not_an_archive(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    write(tmp_path / "t.npz", "X,y\n1,2\n")
    for name in ("a.npz", "t.npz"):
        with raises(r"is not an .npz archive \(it is not a zip file\)", tmp_path / name):
            read_npz(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        read_npz(tmp_path / "missing.npz")


def test_read_npz_damaged_archive(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, X=np.random.default_rng(0).normal(size=(200, 20)))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("X.npy")
    middle = info.header_offset + 100 + info.compress_size // 2  # inside the deflated data
    raw[middle:middle + 16] = bytes(16)
    path.write_bytes(bytes(raw))
    with raises(r"array 'X' (is damaged|cannot be read)", path):
        read_npz(path)


# ---------------------------------------------------------------- IDX


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, size=(5, 3, 4)).astype(np.uint8)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_idx_pair(tmp_path, pixels, compress):
    images = write_idx(tmp_path / "train-images-idx3-ubyte", pixels, compress)
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5, dtype=np.uint8),
                       compress)
    ds = read_idx_pair(images, labels)
    assert ds.data.shape == (5, 12) and ds.data.dtype == np.float64
    np.testing.assert_array_equal(ds.images, pixels)
    np.testing.assert_array_equal(ds.data, pixels.reshape(5, 12))
    assert ds.target.tolist() == [0, 1, 2, 3, 4] and ds.target.dtype == np.int64
    assert ds.pixel_max == 255.0 and ds.kind == "idx" and ds.source == str(images)
    assert read_idx_pair(images).target is None


def test_read_idx_pair_pixel_max_only_for_unsigned_pixels(tmp_path, pixels):
    path = write_idx(tmp_path / "i", pixels.astype(np.int32))
    assert read_idx_pair(path).pixel_max is None


def test_read_idx_truncated_and_malformed(tmp_path, pixels):
    raw = idx_bytes(pixels)
    short = write(tmp_path / "short", "")
    short.write_bytes(raw[:-3])
    with raises(r"is a malformed IDX file: its header promises shape \(5, 3, 4\) \(76 bytes\) "
                r"but the file has 73 bytes", short):
        read_idx_pair(short)
    header = tmp_path / "header"
    header.write_bytes(raw[:9])
    with raises(r"is a truncated IDX file \(incomplete header\)", header):
        read_idx(header)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(raw)[:-10])
    with raises("is a damaged or truncated gzip file", gz):
        read_idx_pair(gz)
    text = write(tmp_path / "text", "a,b\n1,2\n")
    with raises("is not an IDX file", text):
        read_idx(text)
    with pytest.raises(FileNotFoundError):
        read_idx_pair(tmp_path / "missing")


def test_read_idx_pair_refuses_mismatched_files(tmp_path, pixels):
    images = write_idx(tmp_path / "images", pixels)
    labels = write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8))
    with raises(r"holds labels \(1-D\), not images", labels):
        read_idx_pair(labels)
    with raises(r"does not hold labels \(it is 3-D\)", images):
        read_idx_pair(images, images)
    four = write_idx(tmp_path / "four", np.arange(4, dtype=np.uint8))
    with raises(f"has 5 images but {re.escape(str(four))} has 4 labels", images):
        read_idx_pair(images, four)
    halves = write_idx(tmp_path / "halves", np.arange(5) / 2)
    with raises("holds fractions or NaN, not class labels", halves):
        read_idx_pair(images, halves)
    whole = write_idx(tmp_path / "whole", np.arange(5.0))
    assert read_idx_pair(images, whole).target.dtype == np.int64


# ---------------------------------------------------------------- read_data: any file


@pytest.fixture
def mnist(tmp_path, pixels):
    """An MNIST-like directory: train-* (gzip'd) and t10k-* (plain) pairs."""
    d = tmp_path / "mnist"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", pixels, compress=True)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8), compress=True)
    write_idx(d / "t10k-images-idx3-ubyte", pixels[:2])
    write_idx(d / "t10k-labels-idx1-ubyte", np.array([7, 8], dtype=np.uint8))
    return d


def test_read_data_dispatches_on_the_kind_of_file(tmp_path, mnist):
    csv_path = write(tmp_path / "t.txt", "a;b\n1;2\n")  # any name: what is not IDX is CSV
    with open(tmp_path / "d.NPZ", "wb") as fh:  # a name np.savez would not extend
        np.savez(fh, X=np.ones((2, 2)))
    for path, kind in [(csv_path, "csv"), (tmp_path / "d.NPZ", "npz"), (mnist, "idx"),
                       (mnist / "t10k-images-idx3-ubyte", "idx"),
                       (mnist / "train-images-idx3-ubyte.gz", "idx")]:
        assert file_kind(path) == kind
        assert read_data(path).kind == kind
    ds = read_data(csv_path, target="b", features=["a"])
    assert ds.target.tolist() == [2] and ds.feature_names == ["a"]


def test_read_data_directory_picks_the_subset(mnist):
    train = read_data(mnist)
    assert train.source == str(mnist / "train-images-idx3-ubyte.gz")
    assert train.data.shape == (5, 12) and train.target.tolist() == [0, 1, 2, 3, 4]
    test = read_data(mnist, subset="test")
    assert test.source == str(mnist / "t10k-images-idx3-ubyte")
    assert test.target.tolist() == [7, 8]
    with raises("subset must be 'train' or 'test'"):
        read_data(mnist, subset="validation")


def test_read_data_directory_with_test_names_or_one_file(tmp_path, pixels):
    d = tmp_path / "fashion"
    d.mkdir()
    write_idx(d / "test-images-idx3-ubyte", pixels)
    # a single images file serves both subsets; without labels beside it, none
    assert read_data(d).source == read_data(d, subset="test").source
    assert read_data(d).target is None
    write_idx(d / "train-images-idx3-ubyte", pixels[:1])
    assert read_data(d, subset="test").source == str(d / "test-images-idx3-ubyte")
    assert read_data(d).data.shape == (1, 12)


def test_read_data_directory_mistakes(tmp_path, pixels):
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises("is a directory without IDX image files", empty):
        read_data(empty)
    several = tmp_path / "several"
    several.mkdir()
    write_idx(several / "a-images-idx3-ubyte", pixels)
    write_idx(several / "b-images-idx3-ubyte", pixels)
    with raises(r"holds several IDX image files \(a-images-idx3-ubyte, b-images-idx3-ubyte\)",
                several):
        read_data(several)


def test_read_data_finds_the_labels_beside_the_images(mnist, tmp_path):
    assert read_data(mnist / "train-images-idx3-ubyte.gz").target.tolist() == [0, 1, 2, 3, 4]
    # explicit labels win over the file beside
    other = write_idx(tmp_path / "other", np.arange(5, dtype=np.uint8)[::-1].copy())
    ds = read_data(mnist / "train-images-idx3-ubyte.gz", labels=other)
    assert ds.target.tolist() == [4, 3, 2, 1, 0]
    # a count mismatch names both files
    with raises(f"has 5 images but {re.escape(str(mnist / 't10k-labels-idx1-ubyte'))} has 2",
                mnist / "train-images-idx3-ubyte.gz"):
        read_data(mnist / "train-images-idx3-ubyte.gz", labels=mnist / "t10k-labels-idx1-ubyte")


def test_read_data_options_that_do_not_apply(tmp_path, mnist):
    csv_path = write(tmp_path / "t.csv", "a,b\n1,2\n")
    np.savez(tmp_path / "d.npz", X=np.ones((2, 2)))
    with raises(f"a labels file goes with IDX image files, and {re.escape(str(csv_path))} "
                f"is not one"):
        read_data(csv_path, labels=mnist / "train-labels-idx1-ubyte.gz")
    for path in (tmp_path / "d.npz", mnist):
        with raises(f"target and features name CSV columns, and {re.escape(str(path))} is "
                    f"not a CSV file"):
            read_data(path, target="b")


def test_read_data_missing_files(tmp_path, mnist):
    for call in (lambda: read_data(tmp_path / "nope.csv"),
                 lambda: file_kind(tmp_path / "nope.csv"),
                 lambda: read_data(mnist / "train-images-idx3-ubyte.gz",
                                   labels=tmp_path / "nope.csv")):
        with pytest.raises(FileNotFoundError) as exc:
            call()
        assert exc.value.filename == str(tmp_path / "nope.csv")


# ---------------------------------------------------------------- the held-out split


def split_as_before(y, fraction, stratify, seed=0):
    """The split as nncore's command and digits_split computed it before they shared
    split_indices: the oracle that keeps the held-out samples where they were."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    for idx in groups:
        test[rng.permutation(idx)[: int(round(len(idx) * fraction))]] = True
    return rng.permutation(np.flatnonzero(~test)), np.flatnonzero(test)


@pytest.mark.parametrize("fraction, seed", [(0.25, 0), (0.1, 3), (0.5, 12345), (0.0, 0)])
@pytest.mark.parametrize("stratify", [True, False])
def test_split_indices_is_the_split_it_always_was(fraction, seed, stratify):
    y = load_digits().target
    train, test = split_indices(y, test_fraction=fraction, stratify=stratify, seed=seed)
    old_train, old_test = split_as_before(y, fraction, stratify, seed)
    np.testing.assert_array_equal(train, old_train)
    np.testing.assert_array_equal(test, old_test)


def test_digits_split_is_unchanged():
    X, y = load_digits(return_X_y=True, scale=True)
    train, test = split_as_before(y, 0.25, True)
    for got, want in zip(digits_split(), (X[train], X[test], y[train], y[test])):
        np.testing.assert_array_equal(got, want)
    assert [len(a) for a in digits_split()] == [1347, 450, 1347, 450]


def test_split_indices_properties():
    y = np.array(["b"] * 10 + ["a"] * 7 + ["c"] * 3)
    train, test = split_indices(y, test_fraction=0.3)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(20))
    assert test.tolist() == sorted(test.tolist())
    assert {c: int((y[test] == c).sum()) for c in "abc"} == {"a": 2, "b": 3, "c": 1}
    again, _ = split_indices(y, test_fraction=0.3)
    other, _ = split_indices(y, test_fraction=0.3, seed=1)
    assert train.tolist() == again.tolist() and train.tolist() != other.tolist()
    assert len(split_indices(np.arange(20.0), test_fraction=0.3, stratify=False)[1]) == 6


@pytest.mark.parametrize("y, fraction, match", [
    (np.zeros((4, 2)), 0.25, "y must be 1-D"),
    (np.zeros(4), 1.0, r"test_fraction must be in \[0, 1\)"),
    (np.zeros(4), -0.1, r"test_fraction must be in \[0, 1\)"),
])
def test_split_indices_refuses(y, fraction, match):
    with raises(match):
        split_indices(y, test_fraction=fraction)


def test_load_digits_describes_itself():
    ds = load_digits()
    assert ds.kind == "digits" and ds.source == "the UCI digits" and ds.pixel_max == 16.0
    assert ds.data.max() == 16.0
    assert load_digits(scale=True).pixel_max == 1.0


# ---------------------------------------------------------------- the docstrings


def test_docstring_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write their small files here
    result = doctest.testmod(datasets)
    assert result.attempted >= 25 and result.failed == 0
