"""Write real stores with the real libraries; run inside a writer environment (tests/store_writers.py).

    python write_stores.py ome-zarr OUT        # OME-Zarr as the installed ome-zarr-py writes it
    python write_stores.py nwb OUT_ZARR OUT_H5 # the same NWB file with hdmf-zarr and with pynwb (HDF5)

Stdlib, numpy and the writers only: this file is not part of the linter and never imports it.
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # ome-zarr-py 0.14+ deprecates the Scaler it still honours


def write_ome_zarr(out: str) -> None:
    """A 3-D image (z, y, x) of 4 x 32 x 32, chunks 2 x 16 x 16, a pyramid of three levels: NGFF
    0.4 on Zarr v2 with ome-zarr-py < 0.12 (zarr 2), NGFF 0.5 on Zarr v3 with later releases."""
    import numpy as np
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.scale import Scaler
    from ome_zarr.writer import write_image

    data = np.arange(4 * 32 * 32, dtype="uint16").reshape(4, 32, 32)
    root = zarr.group(store=parse_url(out, mode="w").store)
    write_image(image=data, group=root, axes="zyx", scaler=Scaler(max_layer=2), storage_options={"chunks": (2, 16, 16)})


def write_nwb(out_zarr: str, out_h5: str) -> None:
    """A small NWB file (one TimeSeries) as NWB-Zarr (hdmf-zarr) and as NWB-HDF5 (pynwb)."""
    import numpy as np
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    def make() -> NWBFile:
        nwb = NWBFile(
            session_description="a test session",
            identifier="aind-bucket-lint-test",
            session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        )
        nwb.add_acquisition(TimeSeries(name="voltage", data=np.arange(100, dtype="f4"), unit="V", rate=10.0))
        return nwb

    with NWBZarrIO(out_zarr, mode="w") as io:
        io.write(make())
    with NWBHDF5IO(out_h5, mode="w") as io:
        io.write(make())


if __name__ == "__main__":
    what, *paths = sys.argv[1:]
    if what == "ome-zarr":
        write_ome_zarr(*paths)
    elif what == "nwb":
        write_nwb(*paths)
    else:
        raise SystemExit(f"unknown store kind {what!r}")
