"""Figures: the same figure saved at different times gives the same bytes, so regenerated outputs show no spurious
changes."""

from dragon_repro.presentation import plots


def test_a_figure_saved_on_different_days_has_the_same_bytes(tmp_path, monkeypatch):
    plots.use_style()
    fig, ax = plots.plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    saved = []
    for day in (1, 2):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(day * 86400))  # the clock matplotlib dates files by
        saved.append(plots.save_figure(fig, "line", tmp_path / str(day) / "p"))
    for suffix in (".png", ".pdf"):
        assert saved[0].with_suffix(suffix).read_bytes() == saved[1].with_suffix(suffix).read_bytes()
