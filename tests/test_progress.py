"""Progress outside a terminal: plain lines at most every `interval` seconds; none when disabled."""
import io

from dlpde.training.progress import Progress


def test_lines_outside_a_terminal():
    out = io.StringIO()  # not a terminal
    p = Progress(100, "case/pinn", None, stream=out, interval=0.0)
    p.update(25, "loss 1.0e-02")
    p.update(50)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("case/pinn: step 25/100 (25 %)") and lines[0].endswith("loss 1.0e-02")
    assert "left" in lines[0] and len(lines) == 2


def test_quiet_when_disabled_or_before_the_interval():
    out = io.StringIO()
    Progress(100, "x", False, stream=out, interval=0.0).update(50)
    Progress(100, "x", None, stream=out, interval=3600.0).update(50)
    assert out.getvalue() == ""
