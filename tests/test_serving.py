"""Serving exports: the model as a TensorFlow SavedModel or an ONNX file that takes
raw rows, one named input per column, and predicts what ``predict`` predicts, in a
process that cannot import autokeras_lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.cli import main
from autokeras_lab.data import Preprocessor
from autokeras_lab.data._prepare import MAX_CATEGORIES, _fit_quantiles, _quantile_transformer
from autokeras_lab.errors import UserError
from autokeras_lab.types import OutputKind, TaskKind

CLIENT = Path(__file__).parent / "serving" / "client.py"
CLASSES = {OutputKind.REGRESSION: [], OutputKind.BINARY: ["no", "yes"],
           OutputKind.MULTICLASS: ["x", "y", "z"]}


def raw_rows(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Skewed numbers with a spike at zero (concrete's slag), gaps in every kind of
    column, a category column past MAX_CATEGORIES (an ``__other__`` column), booleans
    as words, and a column name TensorFlow does not accept."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "slag (kg/m3)": np.where(rng.random(rows) < 0.4, 0.0, rng.exponential(50, rows)),
        "size": rng.normal(100, 20, rows),
        "colour": rng.choice(["red", "green", "blue"], rows),
        "city": [f"c{i}" for i in rng.integers(0, MAX_CATEGORIES + 20, rows)],
        "organic": rng.choice(["yes", "no"], rows),
    })
    frame.loc[::7, "size"] = np.nan
    frame.loc[::11, "colour"] = None
    frame.loc[::13, "organic"] = None
    return frame


def new_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows as they come to a served model: unseen categories, gaps, values past the
    training range, booleans in capitals."""
    rows = frame.iloc[:30].reset_index(drop=True).copy()
    rows.loc[0, "colour"] = "purple"
    rows.loc[1, "city"] = "nowhere"
    rows.loc[2, "organic"] = "YES"
    rows.loc[3, "slag (kg/m3)"] = np.nan
    rows.loc[4, "slag (kg/m3)"] = 1e6
    rows.loc[5, "slag (kg/m3)"] = -3.0
    rows.loc[6, ["size", "colour", "city", "organic"]] = [np.nan, None, None, None]
    return rows


def write_model(target: Path, kind: OutputKind, *, ensemble: bool) -> pd.DataFrame:
    """A model directory as a search exports it: the search spaces' own models (one on
    quantile inputs, or an ensemble of three spaces on two input transforms, with a
    calibration for classification; the retrieval model holds the rows). Untrained:
    the outputs only have to agree."""
    from autokeras_lab.ensemble import Calibration, Member, weighted_average
    from autokeras_lab.export import write_model_dir
    from autokeras_lab.layers import remember
    from autokeras_lab.spaces import ModelBuilder, Task, load_space

    frame = raw_rows()
    classes = CLASSES[kind]
    rng = np.random.default_rng(1)
    frame["t"] = rng.choice(classes, len(frame)) if classes else rng.normal(30, 10, len(frame))
    task_kind = kind.task
    pre = Preprocessor.fit(frame, features=[c for c in frame.columns if c != "t"], target="t",
                           task=task_kind, classes=classes)
    task = Task.for_data(task_kind, pre.n_inputs, len(classes),
                         numeric_inputs=pre.numeric_inputs)  # as a search's: numbers embedded

    def model(space: str, transform: str = "quantile"):
        loaded = load_space(space)
        derived = loaded.derive(task)
        net = ModelBuilder(loaded, derived, task).build(derived.defaults())
        remember(net, pre.with_transforms(transform).transform_x(frame),  # retrieval only
                 pre.transform_y(frame["t"]))
        return net

    if ensemble:
        members = [Member(model("plr_mlp", "standard"), 0.5, "standard"),
                   Member(model("mlp"), 0.3, "quantile"), Member(model("nca"), 0.2, "quantile")]
        net, pre = weighted_average(members, preprocessor=pre, task=task,
                                    calibration=Calibration(1.7, 0.02) if classes
                                    else Calibration())
    else:
        net, pre = model("plr_mlp"), pre.with_transforms("quantile")
    write_model_dir(target, net, None, {"kind": "ensemble" if ensemble else "single",
                                        "task": str(task_kind)}, preprocessor=pre)
    return frame


def test_the_quantile_transform_in_tensorflow_is_scikit_learns() -> None:
    from autokeras_lab.serving._graph import _quantile_normal

    rng = np.random.default_rng(3)
    fitted = np.asarray(_fit_quantiles(np.where(rng.random(500) < 0.4, 0.0,
                                                rng.exponential(50, 500))))
    tied = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 5.0, 9.0])  # runs of equal quantiles
    for quantiles in (fitted, tied):
        x = np.concatenate([
            quantiles, quantiles + 5e-8, quantiles - 5e-8, (quantiles[:-1] + quantiles[1:]) / 2,
            [quantiles[0] - 10, quantiles[-1] + 10, 1e9, -1e9], rng.uniform(-1, 200, 300),
        ])
        expected = _quantile_transformer(tuple(quantiles)).transform(x[:, None])[:, 0]
        got = _quantile_normal(x, quantiles).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_the_graphs_inputs_are_transform_x_on_missing_unseen_and_out_of_range_rows() -> None:
    import tensorflow as tf

    from autokeras_lab.serving._graph import column_tables, model_inputs, serving_inputs

    frame = raw_rows()
    pre = Preprocessor.fit(frame, features=list(frame.columns), target="size",
                           task=TaskKind.REGRESSION).with_transforms("standard", "quantile")
    assert any(len(c.categories) == MAX_CATEGORIES + 1 for c in pre.columns)  # __other__
    rows = new_rows(frame)
    columns = [
        tf.constant(rows[i.column].to_numpy(np.float64)) if i.dtype == "float64"
        else tf.constant(rows[i.column].astype(object).where(rows[i.column].notna(), "")
                         .astype(str).to_numpy(object))
        for i in serving_inputs(pre)
    ]
    got = model_inputs(pre, column_tables(pre), columns).numpy()
    np.testing.assert_allclose(got, pre.transform_x(rows), rtol=1e-6, atol=1e-6)


def test_input_names_are_valid_for_tensorflow_and_kept_apart() -> None:
    from autokeras_lab.serving import serving_inputs

    frame = pd.DataFrame({"a b": [1.0], "a/b": [2.0], "_x": ["u"], "ok": [True], "y": [0.0]})
    pre = Preprocessor.fit(frame, features=["a b", "a/b", "_x", "ok"], target="y",
                           task=TaskKind.REGRESSION)
    named = {i.column: (i.name, i.dtype) for i in serving_inputs(pre)}
    assert named == {"a b": ("a_b", "float64"), "a/b": ("a_b_2", "float64"),
                     "_x": ("c_x", "string"), "ok": ("ok", "string")}


def test_export_refuses_a_directory_of_other_files_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "best", OutputKind.REGRESSION, ensemble=False)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["export", str(tmp_path / "best"), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: --out") and "holds other files" in error
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "new")]) == 2
    assert "not an exported model directory" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown serving format 'tflite'"):
        from autokeras_lab.serving import export_serving

        export_serving(tmp_path / "best", "tflite", tmp_path / "new")


def test_ops_the_onnx_converter_lacks_are_named_in_one_line() -> None:
    from autokeras_lab.serving._onnx import _reason

    log = ("2026 - INFO - Using opset <onnx, 18>\n2026 - ERROR - Unsupported ops: "
           "Counter({'Log1p': 1, 'Erfinv': 2})\n2026 - INFO - done\n")
    reason = _reason(log)
    assert "Counter({'Log1p': 1, 'Erfinv': 2})" in reason and "\n" not in reason
    assert "--format saved_model" in reason


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(OutputKind), ids=str)
def test_saved_model_and_onnx_predict_what_predict_does_without_our_package(
    tmp_path: Path, kind: OutputKind
) -> None:
    rows_csv = tmp_path / "rows.csv"
    expected: dict[str, pd.DataFrame] = {}
    artifacts: list[str] = []
    for shape in ("single", "ensemble"):
        model_dir = tmp_path / shape
        frame = write_model(model_dir, kind, ensemble=shape == "ensemble")
        new_rows(frame.drop(columns="t")).to_csv(rows_csv, index=False)
        predicted = tmp_path / f"{shape}.csv"
        assert main(["predict", str(model_dir), str(rows_csv), "--output", str(predicted)]) == 0
        expected[shape] = pd.read_csv(predicted, keep_default_na=False)
        for fmt in ("saved_model", "onnx"):
            out = tmp_path / f"{shape}-{fmt}"
            assert main(["export", str(model_dir), "--format", fmt, "--out", str(out)]) == 0
            artifacts += [str(out), fmt, str(tmp_path / f"{shape}-{fmt}.npz")]

    done = subprocess.run([sys.executable, str(CLIENT), str(rows_csv), *artifacts],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for shape, predicted in expected.items():
        for fmt in ("saved_model", "onnx"):
            served = np.load(tmp_path / f"{shape}-{fmt}.npz")
            if not CLASSES[kind]:
                np.testing.assert_allclose(served["prediction"], predicted["predicted_t"],
                                           rtol=1e-5, atol=1e-5)
                continue
            columns = [f"probability_{c}" for c in CLASSES[kind]]
            np.testing.assert_allclose(served["probabilities"], predicted[columns], rtol=0,
                                       atol=1e-5)
            assert list(served["label"]) == list(predicted["predicted_t"].astype(str))


@pytest.mark.slow
def test_an_op_onnx_lacks_is_named_in_one_line_with_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A custom search space's layer whose op tf2onnx cannot convert (the inverse error
    function): the SavedModel still exports; the ONNX export says which op."""
    import keras

    @keras.saving.register_keras_serializable(package="tests")
    class InverseErf(keras.layers.Layer):
        def call(self, x):
            return keras.ops.erfinv(keras.ops.tanh(x) * 0.5)

    frame = raw_rows(60)
    frame["t"] = np.random.default_rng(0).normal(size=len(frame))
    pre = Preprocessor.fit(frame, features=["size", "colour"], target="t",
                           task=TaskKind.REGRESSION)
    inputs = keras.Input((pre.n_inputs,))
    model = keras.Model(inputs, keras.layers.Dense(1)(InverseErf()(inputs)))
    from autokeras_lab.export import write_model_dir

    write_model_dir(tmp_path / "best", model, None, {"kind": "single"}, preprocessor=pre)
    out = tmp_path / "onnx"
    assert main(["export", str(tmp_path / "best"), "--format", "onnx", "--out", str(out)]) == 2
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert "Erfinv" in line and "--format saved_model" in line, line
    assert not out.exists()
    assert main(["export", str(tmp_path / "best"), "--out", str(tmp_path / "sm")]) == 0
