r"""airspeed-velocity (asv 0.6) benchmarks of urnn_zoo: speed, memory, accuracy and drift of every cell.

Layout as numpy's ``benchmarks/``: :mod:`.common` holds the grid, the deterministic cached data and the
device/timer helpers; each ``bench_<topic>.py`` holds classes named for what they measure. Run with
``asv run`` from the repository root (see ``asv.conf.json`` and the README's "Benchmarks (asv)" section).
"""
