"""The command line explains itself: help texts with defaults and choices, one-line errors that
name the option to pass, a notice while Numba compiles, no stray library output."""
import argparse
import subprocess
import sys

import pytest

from estimators.architectures import ARCHITECTURES
from estimators.cli import build_parser, compile_notice, main


def _subparsers():
    ap = build_parser()
    (sub,) = [a for a in ap._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def _options(parser):
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("command", ["score", "train", "evaluate"])
def test_every_option_has_help_with_default_and_choices(command):
    parser = _subparsers()[command]
    for action in _options(parser):
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{command} {name}: no help text"
        text = action.help % vars(action) if "%(" in action.help else action.help
        if action.option_strings and not action.required:
            assert "default" in text, f"{command} {name}: no default in {text!r}"
        if action.default not in (None, False, True, [], argparse.SUPPRESS) and action.option_strings:
            assert str(action.default) in text, f"{command} {name}: default not shown"
        if action.choices:
            for choice in action.choices:
                assert str(choice) in text, f"{command} {name}: choice {choice} not listed"


def test_architecture_choices_listed(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name in ARCHITECTURES:
        assert name in out
    with pytest.raises(SystemExit):
        main(["train", "-o", "x.npz", "--architecture", "resnet"])
    assert "invalid choice" in capsys.readouterr().err


def test_format_casp_requires_target(tmp_path, capsys):
    assert main(["score", "model.pdb", "--format", "casp", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--format casp needs --target" in err[0]


@pytest.mark.parametrize("argv, option", [(["train", "-o", "m.npz"], "--casp13"),
                                          (["evaluate", "scores.csv"], "--labels")])
def test_missing_data_is_one_line_naming_the_option(argv, option, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FOURIER6D_SHARED", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: no ") and f"pass {option} PATH" in err[0]
    assert "root=" not in err[0]
    # a folder without the data: the error names it and the option
    (tmp_path / "scores.csv").write_text("model,global_score\nx,0.5\n")
    assert main(argv + [option, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0] and option in err[0]


def test_featurize_command_removed(capsys):
    with pytest.raises(SystemExit):
        main(["featurize", "x.pdb"])
    assert "invalid choice" in capsys.readouterr().err


def test_compile_notice_once_and_only_when_compiling():
    numba = pytest.importorskip("numba")
    lines = []
    with compile_notice(write=lines.append):
        pass
    assert lines == []

    def fresh(x):
        return x * 2 + 1

    with compile_notice(write=lines.append):
        f = numba.njit(fresh)
        assert f(3) == 7 and f(4.5) == 10.0          # two compilations, one notice
    assert len(lines) == 1 and "compiling the Numba kernels" in lines[0]
    with compile_notice(write=lines.append):
        f(5)                                          # compiled already: nothing
    assert len(lines) == 1


def test_no_stray_library_output(tmp_path):
    # importing the package and the CLI prints nothing (no '@> ProDy is configured' and the like)
    code = ("import estimators, estimators.cli, estimators.structures, estimators.qa_estimator, "
            "estimators.featurizer")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_train_passes_patience_and_epochs_to_the_estimator(tmp_path, monkeypatch):
    import estimators.training_data as training_data
    from estimators.qa_estimator import SixDQAEstimator
    (tmp_path / "T0000").mkdir()
    monkeypatch.setattr(training_data, "training_set",
                        lambda **kw: (["m.pdb"], [None], [0.5], ["T0000"]))
    monkeypatch.setattr("estimators.cli._casp13_folder", lambda value: str(tmp_path))
    seen = {}

    class Stop(Exception):
        pass

    def fit(self, x, y, groups=None):
        seen.update(patience=self.patience, epochs=self.epochs,
                    local_refinement=self.local_refinement, checkpoint_dir=self.checkpoint_dir)
        raise Stop

    monkeypatch.setattr(SixDQAEstimator, "fit", fit)
    # the command reports the exception as a one-line error and a non-zero status
    assert main(["train", "-o", str(tmp_path / "m.npz"), "--epochs", "7", "--patience", "2"]) != 0
    assert seen == {"patience": 2, "epochs": 7, "local_refinement": False,
                    "checkpoint_dir": None}
    assert main(["train", "-o", str(tmp_path / "m.npz"), "--checkpoint-dir", "ck"]) != 0
    assert seen["checkpoint_dir"] == "ck"
    assert main(["train", "-o", str(tmp_path / "m.npz"), "--local-refinement"]) != 0
    assert seen["local_refinement"] is True
    assert main(["train", "-o", str(tmp_path / "m.npz"), "--no-local-refinement"]) != 0
    assert seen["local_refinement"] is False
