"""fourier6d is the pure array library: it must not import estimators, scikit-learn or ProDy."""
import subprocess
import sys


def test_fourier6d_imports_no_estimators_sklearn_or_prody():
    code = ("import sys, fourier6d, fourier6d.conv6d, fourier6d.message_passing, fourier6d.density, "
            "fourier6d.inverse, fourier6d.translation; "
            "bad = [m for m in ('estimators', 'sklearn', 'prody') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
