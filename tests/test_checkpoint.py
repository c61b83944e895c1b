"""Checkpoints: .npz + JSON, atomic, no pickle, clear errors."""

import json
import zipfile

import numpy as np
import pytest

import minigpt.checkpoint as checkpoint_module
from minigpt import GPT, AdamW, CharTokenizer, GPTConfig, load_checkpoint, save_checkpoint

CFG = GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=8)


def trained_pair():
    model = GPT(CFG, seed=0)
    opt = AdamW(model.params, lr=1e-2, weight_decay=0.1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.integers(0, 12, (2, 8))
        model.forward(x, x)
        opt.step(model.backward())
    return model, opt


def test_round_trip(tmp_path):
    model, opt = trained_pair()
    tok = CharTokenizer.train("hello world!")
    path = save_checkpoint(tmp_path / "run" / "ckpt.npz", model, tokenizer=tok, optimizer=opt,
                           step=3, history={"train_loss": [np.float32(2.5)]}, note="hi")
    ck = load_checkpoint(path)
    assert ck["config"] == CFG and ck["step"] == 3 and ck["note"] == "hi"
    assert ck["history"] == {"train_loss": [2.5]}
    for name, p in model.params.items():
        np.testing.assert_array_equal(ck["model"].params[name], p)
        np.testing.assert_array_equal(ck["optimizer"].m[name], opt.m[name])
    assert ck["optimizer"].t == 3 and ck["optimizer"].weight_decay == 0.1
    assert ck["tokenizer"].encode("hello") == tok.encode("hello")
    # the optimizer drives the loaded model's own arrays
    assert ck["optimizer"].params is ck["model"].params
    # a human-readable JSON copy sits beside it
    meta = json.loads((tmp_path / "run" / "ckpt.json").read_text())
    assert meta["config"]["d_model"] == 8 and meta["extra"]["step"] == 3


def test_loading_never_needs_pickle(tmp_path):
    model, _ = trained_pair()
    path = save_checkpoint(tmp_path / "c.npz", model)
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
    # a file that does need pickle (an object array) is refused, not unpickled
    evil = tmp_path / "evil.npz"
    np.savez(evil, **{"meta.json": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="not a readable minigpt checkpoint"):
        load_checkpoint(evil)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    model, opt = trained_pair()
    path = save_checkpoint(tmp_path / "c.npz", model, optimizer=opt)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated"):
            load_checkpoint(path)


def test_foreign_npz_and_wrong_shapes(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(ValueError, match="meta.json"):
        load_checkpoint(other)

    model, _ = trained_pair()
    path = save_checkpoint(tmp_path / "c.npz", model)
    # rewrite the meta so the config claims a wider model than the arrays hold
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    meta["config"]["d_model"] = 16
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="do not match the saved config"):
        load_checkpoint(path)


def test_refuses_to_save_nan_and_keeps_the_old_file(tmp_path):
    model, _ = trained_pair()
    path = save_checkpoint(tmp_path / "c.npz", model)
    before = path.read_bytes()
    model.params["transformer.wpe.weight"][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        save_checkpoint(path, model)
    assert path.read_bytes() == before


def test_crash_while_writing_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    model, _ = trained_pair()
    path = save_checkpoint(tmp_path / "c.npz", model, step=1)

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, step=2)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.npz"]  # no temp files left


def test_reserved_and_bad_names(tmp_path):
    model, _ = trained_pair()
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "c.npz", model, config={"d_model": 1})
    with pytest.raises(ValueError, match=".npz"):
        save_checkpoint(tmp_path / "c.ckpt", model)


def test_float64_model_round_trips(tmp_path):
    model = GPT(CFG, dtype=np.float64)
    ck = load_checkpoint(save_checkpoint(tmp_path / "c.npz", model))
    assert ck["model"].dtype == np.float64
    assert zipfile.is_zipfile(tmp_path / "c.npz")


def test_reward_model_and_half_precision_storage(tmp_path):
    from minigpt.reward import RewardModel

    rm = RewardModel(GPT(CFG, seed=0), seed=0)
    path = save_checkpoint(tmp_path / "rm.npz", rm, storage_dtype=np.float16, stage="reward_model")
    ck = load_checkpoint(path)
    assert isinstance(ck["model"], RewardModel) and ck["stage"] == "reward_model"
    assert ck["model"].dtype == np.float32
    for name, p in rm.params.items():
        np.testing.assert_array_equal(ck["model"].params[name], p.astype(np.float16).astype(np.float32))
    with np.load(path, allow_pickle=False) as npz:
        assert npz["param/head.weight"].dtype == np.float16


def _rewrite_meta(path, change):
    """Load a checkpoint's arrays, let ``change(meta)`` edit or replace its meta, write it back."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = change(json.loads(arrays["meta.json"].tobytes()))
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    return path


def _set(key, value):
    def change(meta):
        meta[key] = value
        return meta
    return change


# defect class: crafted checkpoint metadata raised AttributeError / KeyError / TypeError (tracebacks)
@pytest.mark.parametrize("change", [
    lambda meta: [1, 2],                                        # not an object
    lambda meta: {k: v for k, v in meta.items() if k != "config"},
    _set("config", "abc"),
    _set("dtype", "not-a-dtype"),
    _set("dtype", "object"),
    _set("model_type", "weird"),
    _set("optimizer", {"t": 0}),                                # no lr, no moments
    _set("extra", [1, 2]),
], ids=["list", "no-config", "config-str", "dtype-bad", "dtype-object", "model-type", "optimizer", "extra"])
def test_crafted_metadata_gives_a_value_error_naming_the_file(tmp_path, change):
    model, opt = trained_pair()
    path = _rewrite_meta(save_checkpoint(tmp_path / "c.npz", model, optimizer=opt), change)
    with pytest.raises(ValueError, match="c.npz"):
        load_checkpoint(path)


def _npz_with_member(path, name, header_shape, data, compress=True):
    """A zip holding one .npy member whose header promises ``header_shape`` float32 values."""
    import io
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": header_shape})
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr(name, header.getvalue() + data)
    return path


# defect class: compressed arrays were decompressed before any size check (zip bombs)
def test_sizes_are_checked_before_anything_is_decompressed(tmp_path, monkeypatch):
    # a header that promises far more than the member holds
    liar = _npz_with_member(tmp_path / "liar.npz", "param/x.npy", (10**12,), b"\0" * 16)
    with pytest.raises(ValueError, match="promises"):
        load_checkpoint(liar)
    # an honest but large array, compressed to a few kilobytes: refused above the cap,
    # and np.load is never reached
    bomb = _npz_with_member(tmp_path / "bomb.npz", "param/x.npy", (2**20,), bytes(4 * 2**20))
    assert bomb.stat().st_size < 20_000
    monkeypatch.setattr(checkpoint_module, "MAX_CHECKPOINT_BYTES", 2**20)
    monkeypatch.setattr(checkpoint_module.np, "load", lambda *a, **k: pytest.fail("decompressed"))
    with pytest.raises(ValueError, match="MAX_CHECKPOINT_BYTES"):
        load_checkpoint(bomb)


# defect class: save and load disagreed (a tokenizer larger than the model; NaN weights)
def test_save_refuses_what_load_refuses(tmp_path):
    model, _ = trained_pair()  # vocab_size 12
    too_big = CharTokenizer.train("abcdefghijklmnopqrstuvwxyz")
    with pytest.raises(ValueError, match="tokenizer has 26 tokens"):
        save_checkpoint(tmp_path / "c.npz", model, tokenizer=too_big)
    assert not (tmp_path / "c.npz").exists()
    # and load refuses NaN weights, as save does (a crafted file would otherwise sample token 0 forever)
    path = save_checkpoint(tmp_path / "c.npz", model)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param/transformer.wte.weight"][0, 0] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="NaN or inf"):
        load_checkpoint(path)
